"""The contract's verdict on a clean event, in Python: the collector's fast path.

The contract's one definition is its SQL (``contract.py``, over the text table
``readers.json_split_sql`` fills). Checking one small request through DuckDB
costs milliseconds of fixed work, so the collector first asks ``QuickCheck``:
for an event that plainly keeps every rule of a simple contract it gives what
the SQL would (no reasons, the key, the event time, the JSON text the log
keeps), and for anything else it answers ``None`` and the event goes to the
SQL path, which says why it breaks the contract. It never quarantines an
event itself, so the reasons an event gets always come from the SQL.

A contract is simple when its source is of kind ``events`` and has no rules,
no card (``pci``) columns, only ``string``, ``int``, ``float`` and ``epoch``
columns, string or int key columns, an ``epoch`` time column (or none), and
regular expressions in the subset Python's ``re`` and DuckDB's RE2 read alike.
An event is plain when it is a JSON object of known fields holding strings,
integers of at most 15 digits, or floats written without an exponent, with no
control characters and no value near a bound (where the two paths' arithmetic
could round differently). ``tests/test_quick_check.py`` holds the property
test that proves the two paths agree.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import NamedTuple

from weir.ingest.contract import FUTURE_TOLERANCE_SECONDS
from weir.ingest.pci import SUSPECT
from weir.project.config import ColumnConfig, SourceConfig

_SIMPLE_TYPES = ("string", "int", "float", "epoch")
# a regex in the subset both engines read alike: no flags or lookarounds "(?", no POSIX
# classes "[:", no "{,n}", no possessive or stacked quantifiers, escapes of punctuation only
_REGEX_CHARS = re.compile(r"(?:[^\\]|\\[^A-Za-z0-9])*")
_REGEX_UNSAFE = re.compile(r"\(\?|\[:|\{,|[*+?}][*+{]|\}\?")
_SOLID = re.compile(r"[\w!-~]")  # a character no trim removes
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,15}")
_FLOAT_TEXT = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,9})?")
_SUSPECT = re.compile(SUSPECT)
_SAFE_INT = 10**15
_EPOCH_LIMIT = 1e11  # the SQL reads a larger epoch as out of range


class _Unsure(Exception):
    """The event is not plainly clean: the SQL path decides it."""


class Clean(NamedTuple):
    """What the SQL path gives a clean event: its key, event time and the log's JSON text."""

    key: str
    moment: float | None  # epoch seconds of the time column, None when it has none
    text: str


def _no_constant(_name: str) -> object:
    raise _Unsure  # NaN and Infinity: DuckDB reads them, Python's floats are not its text


_decoder = json.JSONDecoder(object_pairs_hook=tuple, parse_constant=_no_constant)


def _float_text(value: float) -> str:
    """A JSON float as DuckDB's JSON reader writes it back (its shortest round trip)."""
    text = repr(value)
    if "e" in text or "n" in text:  # exponent, inf, nan: written differently
        raise _Unsure
    return text


def _near(value: float, bound: float) -> bool:
    return abs(value - bound) <= 1e-6 * max(1.0, abs(bound))


Read = tuple[str | None, object]  # the field's text, and its typed value (None: null)
# a field's value (never None) and the batch's clock -> its text and typed value
FieldCheck = Callable[[object, float], Read]


class QuickCheck:
    """A compiled simple contract; ``of`` gives None for a contract that is not simple."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self._plan = [
            (
                c.name,
                _compile(c),
                not c.nullable,
                ("{" if index == 0 else ",") + json.dumps(c.name, ensure_ascii=False) + ":",
            )
            for index, c in enumerate(source.columns)
        ]
        self._names = frozenset(source.column_names)
        names = source.column_names
        self._key = [(names.index(name), source.column(name).nullable) for name in source.key]
        self._time = names.index(source.time_column) if source.time_column else None

    @classmethod
    def of(cls, source: SourceConfig) -> QuickCheck | None:
        """The fast path of ``source``'s contract, or None when the contract is not simple."""
        if source.kind != "events" or source.rules:
            return None
        for column in source.columns:
            if column.type not in _SIMPLE_TYPES or column.classification == "pci":
                return None
            if column.regex is not None and not _simple_regex(column.regex):
                return None
        if any(source.column(name).type not in ("string", "int") for name in source.key):
            return None
        if source.time_column is not None and source.column(source.time_column).type != "epoch":
            return None
        return cls(source)

    def check(self, event: str, now_epoch: float) -> Clean | None:
        """The SQL path's outcome for the JSON text ``event`` if it is plainly clean, else None."""
        try:
            pairs = _decoder.decode(event)
            if not isinstance(pairs, tuple):
                return None  # not an object: a reason
            fields = dict(pairs)
            if len(fields) != len(pairs):
                return None  # a repeated field: which one counts is the SQL's to say
            return self._check(fields, now_epoch)
        except (_Unsure, ValueError, RecursionError):
            return None

    def check_document(self, event: object, now_epoch: float) -> Clean | None:
        """``check`` of an event already parsed (by ``json.loads``) from the text it is sent as."""
        if not isinstance(event, dict):
            return None
        try:
            return self._check(event, now_epoch)
        except (_Unsure, ValueError):
            return None

    def _check(self, fields: dict[str, object], now_epoch: float) -> Clean:
        if not self._names.issuperset(fields):
            raise _Unsure  # an unknown field: a reason
        texts: list[str | None] = []
        values: list[object] = []
        parts: list[str] = []  # the log's text: DuckDB's to_json of the struct of the texts
        get = fields.get
        for name, check, required, prefix in self._plan:
            raw = get(name)
            if raw is None:
                if required:
                    raise _Unsure  # missing: a reason
                texts.append(None)
                values.append(None)
                parts.append(prefix + "null")
                continue
            text, value = check(raw, now_epoch)
            texts.append(text)
            values.append(value)
            if text is None:
                parts.append(prefix + "null")
            elif '"' in text or "\\" in text:
                parts.append(prefix + json.dumps(text, ensure_ascii=False))
            else:
                parts.append(prefix + '"' + text + '"')
        moment = None if self._time is None else values[self._time]
        return Clean(self._key_of(texts, values), moment, "".join(parts) + "}")  # type: ignore[arg-type]

    def _key_of(self, texts: list[str | None], values: list[object]) -> str:
        parts = []
        for index, fill in self._key:
            value = values[index]
            if value is not None:
                parts.append(str(value))
            elif fill:
                joined = "\x1f".join("\\N" if text is None else text for text in texts)
                parts.append("h_" + hashlib.md5(joined.encode()).hexdigest())
            else:
                raise _Unsure  # a required key that is missing is a reason
        return parts[0] if len(parts) == 1 else "\x1f".join(parts)


def _compile(column: ColumnConfig) -> FieldCheck:
    """The check of one field's value (not None) against its column's rules."""
    required = not column.nullable
    if column.type == "string":
        enum = frozenset(column.enum) if column.enum is not None else None
        fullmatch = re.compile(column.regex).fullmatch if column.regex is not None else None
        pii = column.classification == "pii"

        def string(value: object, _now: float) -> Read:
            if type(value) is not str or not value.isprintable():
                raise _Unsure  # not text, or a control character (escaped apart) or surrogate
            if value == "":
                if required:
                    raise _Unsure  # '' is missing
                return "", None
            if required and not _SOLID.search(value):
                raise _Unsure  # maybe only blanks: whether trim takes it all is the SQL's say
            if enum is not None and value not in enum:
                raise _Unsure
            if fullmatch is not None and fullmatch(value) is None:
                raise _Unsure
            if pii and _SUSPECT.search(value):
                raise _Unsure  # maybe a card number: the SQL path redacts it
            return value, value

        return string
    read = _READERS[column.type]
    exact = column.type == "int"
    epoch = column.type == "epoch"
    low, high, not_future = column.min, column.max, column.not_future

    def number(raw: object, now_epoch: float) -> Read:
        text: str | None
        value: int | float
        if type(raw) is float and not exact:  # the common case, read inline
            text = repr(raw)
            if "e" in text or "n" in text:  # an exponent, inf or nan: written differently
                raise _Unsure
            value = raw
            if epoch:
                if not 0.0 <= value < _EPOCH_LIMIT:
                    raise _Unsure
                value = _epoch(value)
        else:
            read_text, read_value = read(raw)
            if read_value is None:
                if required:
                    raise _Unsure
                return read_text, None
            assert isinstance(read_value, (int, float))
            text, value = read_text, read_value
        if low is not None and (value < low or (not exact and _near(value, low))):
            raise _Unsure
        if high is not None and (value > high or (not exact and _near(value, high))):
            raise _Unsure
        if not_future:
            limit = now_epoch + FUTURE_TOLERANCE_SECONDS
            if value > limit or _near(value, limit):
                raise _Unsure
        return text, value

    return number


def _simple_regex(pattern: str) -> bool:
    return _REGEX_CHARS.fullmatch(pattern) is not None and not _REGEX_UNSAFE.search(pattern)


def _string_text(raw: object) -> str:
    if type(raw) is not str or not raw.isprintable():
        raise _Unsure
    return raw


def _number_text(raw: object, pattern: re.Pattern[str]) -> tuple[str, float | int] | None:
    """A JSON number's text and value, or a string's that reads plainly; None for ''."""
    if isinstance(raw, bool):
        raise _Unsure
    if isinstance(raw, int):
        if abs(raw) >= _SAFE_INT:
            raise _Unsure
        return str(raw), raw
    if isinstance(raw, float):
        return _float_text(raw), raw
    text = _string_text(raw)
    if text == "":
        return None
    if pattern.fullmatch(text) is None:
        raise _Unsure
    return text, (int(text) if pattern is _INT_TEXT else float(text))


def _read_int(raw: object) -> Read:
    if isinstance(raw, float):
        raise _Unsure  # 5.0 is not an int to the contract
    read = _number_text(raw, _INT_TEXT)
    return ("", None) if read is None else read


def _read_float(raw: object) -> Read:
    read = _number_text(raw, _FLOAT_TEXT)
    if read is None:
        return "", None
    text, value = read
    number = float(value)
    if not math.isfinite(number):
        raise _Unsure
    return text, number


def _read_epoch(raw: object) -> Read:
    text, value = _read_float(raw)
    if value is None:
        return text, None
    assert isinstance(value, float)
    if not 0.0 <= value < _EPOCH_LIMIT:
        raise _Unsure  # out of range, or before 1970 (rounded differently): the SQL's call
    return text, _epoch(value)


_READERS: dict[str, Callable[[object], Read]] = {
    "int": _read_int,
    "float": _read_float,
    "epoch": _read_epoch,
}


def _epoch(seconds: float) -> float:
    """``epoch(to_timestamp(seconds))`` as DuckDB computes it: microseconds, then milliseconds."""
    micros = round(seconds * 1e6)
    return (micros // 1000) / 1e3 + (micros % 1000) / 1e6
