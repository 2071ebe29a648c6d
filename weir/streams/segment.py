"""Segment messages → records of the project's sources (pure functions, no I/O).

The mapping itself (which message type goes to which source, each field read
from which path) is configuration: ``weir.project.segment.SegmentMapping``.
This module reads request bodies the way Segment's SDKs send them (a
``{"batch": [...]}`` or one message, possibly gzipped), applies the mapping,
and returns, per source, the JSON texts the collector takes.

Nothing is dropped: a message no target takes, or that is not an object, goes
whole (as it came) to the mapping's ``unmapped_source``, whose contract
quarantines it for its unknown fields; a value the mapping cannot convert (a
timestamp that is not ISO-8601) is passed on as it is, for the contract to
reject with a reason.

A body that nests deeper than the collector's limit (``MAX_DEPTH`` levels an
event, one more for a batch) or holds an integer too long for Python to read
is refused (400) before it is parsed, as is a gzip or deflate stream that is
truncated or followed by anything.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from weir.errors import ProjectError, TooLarge, WeirError
from weir.project import SourceConfig
from weir.project.segment import SegmentMapping, SegmentTarget
from weir.streams.body import MAX_DEPTH, check_nesting, too_many_digits, utf8_text

SegmentCall = Literal["batch", "track", "page", "screen", "identify", "group", "alias"]
SEGMENT_CALLS: tuple[str, ...] = get_args(SegmentCall)
_MISSING = object()
# a write key in the body, found before the body is parsed (a key is a short token)
_BODY_KEY = re.compile(rb'"writeKey"\s*:\s*"([A-Za-z0-9_\-]{1,200})"')


class BadSegmentBody(WeirError):
    """A body that is not a Segment message or batch."""

    code = "bad_segment_body"
    status = 400


@dataclass(frozen=True)
class SegmentBody:
    """A request's messages, and the write key if the body carried one (analytics.js does)."""

    messages: list[Any]
    write_key: str | None


def read_body(
    body: bytes, content_encoding: str | None, call: SegmentCall, max_bytes: int
) -> SegmentBody:
    """The messages of a posted body: ``/v1/batch`` takes ``{"batch": [...]}``, the others one message."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "deflate"):
        body = _inflate(body, encoding, max_bytes)
    elif encoding not in ("", "identity"):
        raise BadSegmentBody(
            f"unsupported Content-Encoding '{encoding}'", "send the body plain or gzip-compressed"
        )
    text = utf8_text(body, BadSegmentBody, "send the messages as UTF-8 JSON")
    # a batch's messages are one level below its object, and their context one more
    check_nesting(text, MAX_DEPTH + 2, BadSegmentBody)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadSegmentBody(
            f"the body is not JSON ({exc})", "send a Segment message or {'batch': [...]}"
        ) from None
    except ValueError:  # only the integer digits limit is a ValueError not a JSONDecodeError
        raise too_many_digits(BadSegmentBody) from None
    if not isinstance(document, dict):
        raise BadSegmentBody("the body is not a JSON object", "send a Segment message or batch")
    key = document.get("writeKey")
    if "writeKey" in document and not isinstance(key, str):
        raise BadSegmentBody("'writeKey' is not a string", "send the write key as text")
    write_key = key or None
    if call == "batch":
        batch = document.get("batch")
        if not isinstance(batch, list):
            raise BadSegmentBody(
                "a batch body needs a 'batch' list", 'send {"batch": [{"type": "track", ...}]}'
            )
        # batch-level context (analytics.js) applies to every message that has none
        shared = document.get("context")
        messages = [
            {"context": shared, **m} if isinstance(m, dict) and isinstance(shared, dict) else m
            for m in batch
        ]
        return SegmentBody(messages, write_key)
    message = {k: v for k, v in document.items() if k != "writeKey"}
    message.setdefault("type", call)
    return SegmentBody([message], write_key)


def _inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Decompress without letting a small bomb grow past ``max_bytes``."""
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadSegmentBody(
            f"the body is not valid {encoding} ({exc})", f"send a whole {encoding} stream"
        ) from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise TooLarge(
            f"the decompressed body is over {max_bytes} bytes",
            "send fewer events per request (collector.max_body_bytes in weir.yml)",
        )
    if not inflater.eof:
        raise BadSegmentBody(
            f"the {encoding} body ends before its stream does (truncated)",
            f"send a whole {encoding} stream",
        )
    if inflater.unused_data:
        raise BadSegmentBody(
            f"the {encoding} body has {len(inflater.unused_data)} bytes after its stream",
            f"send one whole {encoding} stream and nothing after it",
        )
    return out


def body_write_key(body: bytes, content_encoding: str | None) -> str | None:
    """The write key a plain body carries (``writeKey``, as analytics.js sends), unparsed.

    Found before anything of the body is parsed, so a request without a key costs
    no parsing; a compressed body must carry its key in the Authorization header.
    """
    if (content_encoding or "").strip().lower() not in ("", "identity"):
        return None
    found = _BODY_KEY.search(body)
    return found.group(1).decode("ascii") if found else None


def target_of(message: Any, mapping: SegmentMapping) -> SegmentTarget | None:
    """The target a message goes to; None when no target takes it."""
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if kind in ("page", "screen"):
        return mapping.page
    if kind == "identify":
        return mapping.identify
    if kind == "track":
        named = mapping.track_events.get(str(message.get("event")))
        return named or mapping.track
    return None


def map_message(
    message: Any, mapping: SegmentMapping, sources: Mapping[str, SourceConfig]
) -> tuple[str, str]:
    """(source, the record as JSON text) for one Segment message."""
    target = target_of(message, mapping)
    if target is None:
        # kept whole: the unmapped source's contract quarantines it, the message stays replayable
        return mapping.unmapped_source, json.dumps(message, separators=(",", ":"), default=str)
    source = sources[target.source]
    record: dict[str, Any] = {}
    for name, spec in target.fields.items():
        value = _first(message, spec)
        if value is _MISSING:
            continue
        if source.column(name).type == "epoch" and isinstance(value, str):
            value = _epoch(value)
        record[name] = value
    return target.source, json.dumps(record, separators=(",", ":"), default=str)


def map_messages(
    messages: Iterable[Any], mapping: SegmentMapping, sources: Mapping[str, SourceConfig]
) -> dict[str, list[str]]:
    """source → the records of ``messages`` for it, in the order they came."""
    out: dict[str, list[str]] = {}
    for message in messages:
        source, record = map_message(message, mapping, sources)
        out.setdefault(source, []).append(record)
    return out


def check_mapping(mapping: SegmentMapping, sources: Mapping[str, SourceConfig]) -> None:
    """Every target names a source of the project and only fields of that source."""
    where = "weir.yml: collector.segment"
    for label, target in _labelled(mapping):
        if target.source not in sources:
            raise ProjectError(
                f"{where}.{label}.source: no source named '{target.source}'",
                f"use one of: {', '.join(sorted(sources))}",
            )
        columns = sources[target.source].column_names
        unknown = sorted(set(target.fields) - set(columns))
        if unknown:
            raise ProjectError(
                f"{where}.{label}.fields: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} "
                f"not a field of {target.source}",
                f"fields of {target.source}: {', '.join(columns)}",
            )
    if mapping.unmapped_source not in sources:
        raise ProjectError(
            f"{where}.unmapped_source: no source named '{mapping.unmapped_source}'",
            f"use one of: {', '.join(sorted(sources))}",
        )


def _labelled(mapping: SegmentMapping) -> Sequence[tuple[str, SegmentTarget]]:
    named = [(f"track_events.{name}", t) for name, t in mapping.track_events.items()]
    return [
        ("page", mapping.page),
        ("track", mapping.track),
        ("identify", mapping.identify),
        *named,
    ]


def _first(message: dict[str, Any], spec: str) -> Any:
    for option in (part.strip() for part in spec.split("|")):
        if option.startswith("="):
            return option[1:]
        value = _lookup(message, option)
        if value is not _MISSING and value is not None and value != "":
            return value
    return _MISSING


def _lookup(message: dict[str, Any], path: str) -> Any:
    current: Any = message
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _epoch(text: str) -> float | str:
    """ISO-8601 (Segment's timestamps) → seconds since 1970; other text is left for the contract."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text  # a time without a zone is ambiguous: let the contract say so
    return moment.timestamp()


__all__ = [
    "SEGMENT_CALLS",
    "BadSegmentBody",
    "SegmentBody",
    "SegmentCall",
    "body_write_key",
    "check_mapping",
    "map_message",
    "map_messages",
    "read_body",
    "target_of",
]
