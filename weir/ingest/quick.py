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
from dataclasses import dataclass

from weir.ingest.contract import FUTURE_TOLERANCE_SECONDS
from weir.ingest.pci import SUSPECT
from weir.project.config import ColumnConfig, SourceConfig

_SIMPLE_TYPES = ("string", "int", "float", "epoch")
# a regex in the subset both engines read alike: no flags or lookarounds "(?", no POSIX
# classes "[:", no "{,n}", no possessive or stacked quantifiers, escapes of punctuation only
_REGEX_CHARS = re.compile(r"(?:[^\\]|\\[^A-Za-z0-9])*")
_REGEX_UNSAFE = re.compile(r"\(\?|\[:|\{,|[*+?}][*+{]|\}\?")
_UNSAFE_TEXT = re.compile("[\x00-\x1f\ud800-\udfff]")  # escaped differently, or not Unicode
_SOLID = re.compile(r"[\w!-~]")  # a character no trim removes
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,15}")
_FLOAT_TEXT = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,9})?")
_SUSPECT = re.compile(SUSPECT)
_SAFE_INT = 10**15
_EPOCH_LIMIT = 1e11  # the SQL reads a larger epoch as out of range


class _Unsure(Exception):
    """The event is not plainly clean: the SQL path decides it."""


@dataclass(frozen=True)
class Clean:
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


@dataclass(frozen=True)
class _Column:
    name: str
    config: ColumnConfig
    regex: re.Pattern[str] | None
    enum: frozenset[str] | None
    pii: bool


Read = tuple[str | None, object]  # the field's text, and its typed value (None: null)


class QuickCheck:
    """A compiled simple contract; ``of`` gives None for a contract that is not simple."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self._columns = [
            _Column(
                c.name,
                c,
                re.compile(c.regex) if c.regex is not None else None,
                frozenset(c.enum) if c.enum is not None else None,
                c.classification == "pii" and c.type == "string",
            )
            for c in source.columns
        ]
        self._names = frozenset(source.column_names)
        self._key = list(source.key)
        self._fill = {name for name in source.key if source.column(name).nullable}
        self._time = source.time_column
        self._readers: dict[str, Callable[[object], Read]] = {
            "string": _read_string,
            "int": _read_int,
            "float": _read_float,
            "epoch": _read_epoch,
        }

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
        texts: dict[str, str | None] = {}
        values: dict[str, object] = {}
        for column in self._columns:
            config = column.config
            raw = fields.get(column.name)
            text, value = (None, None) if raw is None else self._readers[config.type](raw)
            if value is None:
                if not config.nullable:
                    raise _Unsure  # missing: a reason
            elif config.type == "string":
                assert isinstance(value, str)
                if not config.nullable and not _SOLID.search(value):
                    raise _Unsure  # maybe only blanks: whether trim takes it all is the SQL's say
                if column.enum is not None and value not in column.enum:
                    raise _Unsure
                if column.regex is not None and column.regex.fullmatch(value) is None:
                    raise _Unsure
                if column.pii and _SUSPECT.search(value):
                    raise _Unsure  # maybe a card number: the SQL path redacts it
            else:
                assert isinstance(value, (int, float))
                self._bounds(config, value, now_epoch)
            texts[column.name] = text
            values[column.name] = value
        return Clean(self._key_of(texts, values), self._moment(values), _dumps(texts))

    @staticmethod
    def _bounds(config: ColumnConfig, value: float, now_epoch: float) -> None:
        exact = config.type == "int"
        for bound, below in ((config.min, True), (config.max, False)):
            if bound is None:
                continue
            if not exact and _near(value, bound):
                raise _Unsure
            if (value < bound) if below else (value > bound):
                raise _Unsure
        if config.not_future:
            limit = now_epoch + FUTURE_TOLERANCE_SECONDS
            if _near(value, limit) or value > limit:
                raise _Unsure

    def _key_of(self, texts: dict[str, str | None], values: dict[str, object]) -> str:
        parts = []
        for name in self._key:
            value = values[name]
            if value is None:
                if name not in self._fill:
                    raise _Unsure  # a required key that is missing is a reason
                parts.append(self._content_hash(texts))
            else:
                parts.append(str(value))
        return parts[0] if len(parts) == 1 else "\x1f".join(parts)

    def _content_hash(self, texts: dict[str, str | None]) -> str:
        parts = [texts[c.name] for c in self._columns]
        joined = "\x1f".join("\\N" if part is None else part for part in parts)
        return "h_" + hashlib.md5(joined.encode()).hexdigest()

    def _moment(self, values: dict[str, object]) -> float | None:
        if self._time is None:
            return None
        value = values[self._time]  # an epoch column's value is its epoch() already
        return None if value is None else float(value)  # type: ignore[arg-type]


def _dumps(texts: dict[str, str | None]) -> str:
    # DuckDB's to_json of a struct of texts: the same as this once no control character is left
    return json.dumps(texts, ensure_ascii=False, separators=(",", ":"))


def _simple_regex(pattern: str) -> bool:
    return _REGEX_CHARS.fullmatch(pattern) is not None and not _REGEX_UNSAFE.search(pattern)


def _string_text(raw: object) -> str:
    if not isinstance(raw, str) or _UNSAFE_TEXT.search(raw):
        raise _Unsure
    return raw


def _read_string(raw: object) -> Read:
    text = _string_text(raw)
    return (text, None) if text == "" else (text, text)


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


def _epoch(seconds: float) -> float:
    """``epoch(to_timestamp(seconds))`` as DuckDB computes it: microseconds, then milliseconds."""
    micros = round(seconds * 1e6)
    return (micros // 1000) / 1e3 + (micros % 1000) / 1e6
