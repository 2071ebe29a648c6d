"""A posted body as the collector's events: one JSON text per event.

A body is a JSON object (one event), a JSON array (one event per element) or
NDJSON (one event per line), told apart by its Content-Type or, without one,
by its first character. A JSON body that does not parse is refused whole,
saying where; an NDJSON line that does not parse is one event the contract
quarantines (``malformed JSON``), like a bad line of a JSON-lines file.

A JSON body is refused whole, too, when it nests deeper than ``MAX_DEPTH``
levels (an event; its array is one more) or holds an integer of more than
``MAX_DIGITS`` digits: Python's parser could not read either safely. An
event of a JSON body whose text is not Unicode (a lone surrogate escape such
as ``"\\ud800"``) is kept as the escaped JSON it came as, so the contract
quarantines it as ``malformed JSON`` exactly as it does the same NDJSON line.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any, overload

from weir.errors import TooLarge, WeirError

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
MAX_DEPTH = 64  # levels of objects and arrays one event may nest
MAX_DIGITS = sys.get_int_max_str_digits() or 4300  # digits of one integer
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class BadBody(WeirError):
    """A request body that is not JSON, a JSON array, or NDJSON."""

    code = "bad_json"
    status = 400


def body_limit_error(limit: int, size: int | None = None) -> TooLarge:
    told = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return TooLarge(
        f"the request body is {told}; the limit is {limit}",
        "send fewer events per request (collector.max_body_bytes in weir.yml)",
    )


def utf8_text(body: bytes, refusal: type[WeirError], fix: str) -> str:
    """``body`` as text, or ``refusal`` naming the first byte that is not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refusal(f"the body is not UTF-8 (byte {exc.start})", fix) from None


class Events(Sequence[str]):
    """A JSON body's events: each one's text, written only when first asked for.

    The parsed values are kept (``documents``): the contract's fast path reads
    them as they are, so an event it decides is never written back to text.
    """

    def __init__(self, documents: list[Any], dumps: Callable[[Any], str]) -> None:
        self.documents = documents
        self._dumps = dumps
        self._texts: list[str | None] = [None] * len(documents)

    def __len__(self) -> int:
        return len(self.documents)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[at] for at in range(*index.indices(len(self)))]
        text = self._texts[index]
        if text is None:
            text = self._texts[index] = self._dumps(self.documents[index])
        return text


def parse_events(body: bytes, content_type: str | None = None) -> Sequence[str]:
    """The events of a request body, each as its JSON text."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    text = utf8_text(body, BadBody, "send the events as UTF-8 JSON").removeprefix("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise BadBody("the body is empty", "send a JSON object, a JSON array, or NDJSON")
    if kind in NDJSON_TYPES:
        return _lines(text)
    depth = MAX_DEPTH + (stripped[0] == "[")  # + 1: an array of events
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        check_nesting(text, depth, BadBody)  # too deep is said first, as for a valid body
        if kind != "application/json" and exc.msg == "Extra data" and stripped[0] == "{":
            return _lines(text)  # no type said, and more than one object: NDJSON
        hint = "send a JSON object, a JSON array of objects, or NDJSON (application/x-ndjson)"
        if exc.msg == "Extra data":
            hint = "for one event per line, send Content-Type: application/x-ndjson"
        raise BadBody(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(character {exc.pos})",
            hint,
        ) from None
    except (ValueError, RecursionError):
        # too deep for Python's parser, or only the integer digits limit (a ValueError)
        check_nesting(text, depth, BadBody)
        raise too_many_digits(BadBody) from None
    if _deeper(document, depth):
        check_nesting(text, depth, BadBody)  # says how deep, from the text
    dumps = _dumps_checked if _SURROGATE.search(text) else _dumps
    if isinstance(document, list):
        return Events(document, dumps)
    if not isinstance(document, dict):
        raise BadBody(
            f"the body is a JSON {_KINDS.get(type(document), 'value')}, not an event",
            "send a JSON object (one event), a JSON array (one event each), or NDJSON",
        )
    return Events([document], dumps)


_KINDS = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def check_nesting(text: str, limit: int, error: type[WeirError]) -> None:
    """Refuse JSON ``text`` that nests objects and arrays deeper than ``limit`` levels.

    Python's parser recurses once per level and fails (``RecursionError``) at about a
    thousand; this scan does not recurse. Strings are left out first: their brackets
    are text.
    """
    if text.count("[") + text.count("{") <= limit:
        return  # too few brackets to nest that deep
    brackets = _BRACKETS.findall(_STRINGS.sub("", text))
    deepest = max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)
    if deepest > limit:
        raise error(
            f"the body nests objects and arrays {deepest} levels deep; "
            f"an event may nest at most {MAX_DEPTH}",
            "flatten the events, or send deep structures as JSON text in a string field",
        )


def _deeper(document: object, limit: int) -> bool:
    """Whether a parsed body nests objects and arrays more than ``limit`` levels deep.

    The parsed values tell it level by level (an event of plain fields is two
    levels in an array); the text is scanned, by ``check_nesting``, only to
    refuse a body that is too deep.
    """
    level = [document]
    depth = 0
    while level:
        containers = [value for value in level if isinstance(value, (list, dict))]
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = [
            inner
            for value in containers
            for inner in (value.values() if isinstance(value, dict) else value)
        ]
    return False


def too_many_digits(error: type[WeirError]) -> WeirError:
    return error(
        f"the body has an integer of more than {MAX_DIGITS} digits",
        "send numbers that long as strings",
    )


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dumps_checked(value: object) -> str:
    """An event's JSON text; escaped where it holds a lone surrogate (not Unicode)."""
    text = _dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # the escapes as sent: the contract's parser quarantines them as malformed JSON,
        # as it does the same event sent as an NDJSON line
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]
