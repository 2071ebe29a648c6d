"""The contract's fast path gives exactly what its SQL path gives, on random dirty events.

``QuickCheck`` (the collector's fast path) decides only events it finds plainly
clean and leaves the others to the SQL path. For every event it decides, the
SQL path must agree: no reasons, and the same key, event time and log text.
Events are drawn from values around every rule of the contract (blanks,
control characters, numbers written as text, exponents, bounds, the future,
unknown and repeated fields, text that is not JSON).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import T0
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import weir
from weir.engine import Session
from weir.ingest.quick import QuickCheck
from weir.project import SourceConfig
from weir.streams.body import Events, parse_events
from weir.streams.lane import Lane

NOW = T0 + 0.25  # the batch's clock: not_future allows up to an hour after it

# every simple feature of a contract: required and optional fields, a nullable key filled
# by the content hash, enums, regexes, a pii text, int/float/epoch bounds, not_future
PROBE = """
name: probe
kind: events
format: jsonl
location: landing/probe/*.jsonl
key: [event_id]
time_column: at
columns:
  - {name: event_id, type: string}
  - {name: who, type: string, nullable: false}
  - {name: kind, type: string, enum: [View, Click, "Sale é"]}
  - {name: path, type: string, regex: '^/(a|b[0-9]+|c-d/[a-z]+)?$'}
  - {name: note, type: string, classification: pii}
  - {name: qty, type: int, min: 1, max: 500}
  - {name: price, type: float, min: 0.5, max: 1000}
  - {name: at, type: epoch, nullable: false, not_future: true, min: 1000000000}
"""

ORDERED = """
name: orders_probe
kind: events
format: jsonl
location: landing/orders_probe/*.jsonl
key: [shop, number]
columns:
  - {name: shop, type: string, nullable: false}
  - {name: number, type: int, nullable: false}
  - {name: total, type: float}
"""


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lane]]:
    root = weir.init_project(tmp_path_factory.mktemp("quick") / "shop")
    (root / "sources" / "probe.yml").write_text(PROBE, encoding="utf-8")
    (root / "sources" / "orders_probe.yml").write_text(ORDERED, encoding="utf-8")
    config = yaml.safe_load((root / "weir.yml").read_text(encoding="utf-8"))
    config.setdefault("collector", {})["sources"] = ["probe", "orders_probe", "web_traffic"]
    (root / "weir.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with weir.Project(root) as project:
        collector = project.streams.collector()
        try:
            yield {name: collector.lane(name) for name in ("probe", "orders_probe", "web_traffic")}
        finally:
            for session in _sessions.values():
                session.close()
            _sessions.clear()
            collector.close()


_sessions: dict[str, Session] = {}


def both(lane: Lane, texts: list[str]) -> list[tuple[Any, Any]]:
    """(fast path, SQL path) per event."""
    quick = lane.quick
    assert quick is not None
    name = lane.source.name
    if name not in _sessions:  # one connection per lane, as a checker thread has
        _sessions[name] = lane.ingestor.lake.engine.writer(threads=1)
    sql = lane.check_in_sql(_sessions[name], texts, NOW)
    return [(quick.check(text, NOW), row) for text, row in zip(texts, sql, strict=True)]


def agree(lane: Lane, texts: list[str]) -> int:
    """Assert the paths agree on every event the fast path decides; returns how many it did.

    An event of a JSON body reaches the fast path parsed, and the SQL path as the
    parsed value written back (``parse_events``): both forms are checked too.
    """
    quick = lane.quick
    assert quick is not None
    documents = []
    for text in texts:
        try:
            document = json.loads(text)
        except ValueError:
            continue
        if isinstance(document, dict):
            documents.append(document)
    events = parse_events(json.dumps(documents).encode())
    assert isinstance(events, Events)
    written = list(events)
    decided = 0
    for text, (fast, (reasons, key, moment, logged, last4)) in zip(
        [*texts, *written], both(lane, [*texts, *written]), strict=True
    ):
        if fast is None:
            continue
        decided += 1
        assert reasons == [], text
        assert (fast.key, fast.moment, fast.text, ()) == (key, moment, logged, last4), text
    for document, text in zip(events.documents, written, strict=True):
        assert quick.check_document(document, NOW) == quick.check(text, NOW), text
    return decided


# -- values near every rule ----------------------------------------------------------------
edgy_text = st.sampled_from(
    ["", " ", "  x ", "\t", "\u00a0", "\u200b", "x\ny", "a\x00b", "\x7f", 'q"uo\\te', "é", "/", "-"]
)
texts = st.one_of(st.text(max_size=12), edgy_text)
numbers_as_text = st.sampled_from(
    ["1", "+2", "-3", "007", " 4", "5 ", "1.5", "1e3", "0x10", "nan", "inf", "", "1_000", "\uff12"]
)
ints = st.one_of(
    st.integers(-10, 600),
    st.integers(-(2**63), 2**64),
    st.sampled_from([0, 1, 500, 501, 10**15 - 1, 10**15, 2**53 + 1]),
)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(0, 1100),
    st.sampled_from([0.5, 0.4999999, 1000.0, 1000.0000001, 1e-7, 1e20, -0.0, 5e-324]),
)
times = st.one_of(
    st.floats(-1e12, 3e11),
    st.floats(T0 - 86400 * 400, T0 + 7200),
    st.integers(0, 10**11),
    st.sampled_from([NOW + 3600, NOW + 3600.0000001, 1e9, 999999999.9999999, 1e11, 1e11 - 1]),
    st.builds(lambda t: f"{t:.6f}", st.floats(T0 - 86400, T0 + 4000)),
)
value = st.one_of(
    st.none(),
    texts,
    numbers_as_text,
    ints,
    floats,
    st.booleans(),
    st.just([1, "a"]),
    st.just({"n": 1}),
)


def probe_fields() -> st.SearchStrategy[dict[str, Any]]:
    clean = {
        "event_id": st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8)),
        "who": st.one_of(st.text(min_size=1, max_size=10), texts),
        "kind": st.one_of(st.sampled_from(["View", "Click", "Sale é", "view"]), texts),
        "path": st.one_of(st.sampled_from(["/", "/a", "/b12", "/c-d/xy", "/b", "/c-d/X"]), texts),
        "note": st.one_of(
            texts, st.sampled_from(["card 4111 1111 1111 1111", "4111111111111111", "ok"])
        ),
        "qty": st.one_of(ints, numbers_as_text),
        "price": st.one_of(floats, numbers_as_text, ints),
        "at": times,
    }
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, value) for k, v in clean.items()})


def render(fields: dict[str, Any], extra: dict[str, Any], style: int) -> str:
    event = {**fields, **extra}
    if style == 0:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    if style == 1:
        return json.dumps(event, ensure_ascii=True)  # \u escapes, spaces after separators
    if style == 2 and event:
        first = next(iter(event))
        return json.dumps(event)[:-1] + f", {json.dumps(first)}: null}}"  # a repeated field
    return json.dumps(list(event.values()))  # not an object


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            probe_fields(),
            st.one_of(st.just({}), st.dictionaries(st.sampled_from(["extra", "Who"]), value)),
            st.sampled_from([0, 0, 0, 1, 2, 3]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_the_fast_path_agrees_with_the_sql_on_random_events(
    lanes: dict[str, Lane], drawn: list[tuple[dict[str, Any], dict[str, Any], int]]
) -> None:
    events = [render(fields, extra, style) for fields, extra, style in drawn]
    events.append("{not json")  # text that does not parse, in the same group
    agree(lanes["probe"], events)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "shop": st.one_of(st.sampled_from(["north", "South é"]), texts),
                "number": st.one_of(ints, numbers_as_text),
            },
            optional={"total": st.one_of(floats, numbers_as_text, value)},
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_key_of_several_columns_is_built_as_the_sql_builds_it(
    lanes: dict[str, Lane], events: list[dict[str, Any]]
) -> None:
    agree(lanes["orders_probe"], [json.dumps(e, ensure_ascii=False) for e in events])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "event_id": st.text(min_size=1, max_size=10),
                "session_id": st.text(min_size=1, max_size=10),
                "page": st.sampled_from(["/", "/cart", "/product/12", "/category/a-b", "/x"]),
                "event_type": st.sampled_from(["View", "Click"]),
                "timestamp": st.floats(T0 - 86400 * 30, T0 + 3500),
            },
            optional={"user_id": st.integers(0, 10**6), "device_type": st.just("Mobile")},
        ),
        min_size=1,
        max_size=30,
    )
)
def test_clean_tracker_events_are_decided_by_the_fast_path_as_the_sql_decides_them(
    lanes: dict[str, Lane], events: list[dict[str, Any]]
) -> None:
    texts = [json.dumps(e) for e in events]
    outcomes = both(lanes["web_traffic"], texts)
    agree(lanes["web_traffic"], texts)
    # an event the SQL finds clean is decided without DuckDB when it is written plainly:
    # printable text, a session id with a character no trim removes, no exponent
    for event, (fast, (reasons, *_)) in zip(events, outcomes, strict=True):
        plain = (
            all(c.isprintable() for c in event["event_id"] + event["session_id"])
            and re.search(r"[\w!-~]", event["session_id"]) is not None
            and "e" not in repr(event["timestamp"])
        )
        if reasons == [] and plain:
            assert fast is not None, event


def test_a_hand_checked_event() -> None:
    """The values worked out by hand: the key, the event time to the microsecond, the text."""
    source = SourceConfig.model_validate(
        {
            "name": "hand",
            "kind": "events",
            "format": "jsonl",
            "location": "x/*.jsonl",
            "key": ["id"],
            "time_column": "at",
            "columns": [
                {"name": "id", "type": "string"},
                {"name": "n", "type": "int"},
                {"name": "at", "type": "epoch"},
            ],
        }
    )
    quick = QuickCheck.of(source)
    assert quick is not None
    clean = quick.check('{"at": 1735732800.1234565, "n": "+7", "id": "a\\"b"}', NOW)
    assert clean is not None
    # 1735732800.1234565 * 1e6 rounds to ...123456 µs (the double is just below the half)
    assert clean.moment == 1735732800.123456
    assert clean.key == 'a"b'
    # the fields in the contract's order, each as the text it came as (the int as sent)
    assert clean.text == '{"id":"a\\"b","n":"+7","at":"1735732800.1234565"}'
    # no id: the key is the content hash of the fields' texts, a missing one as \N
    hashed = quick.check('{"n": 3}', NOW)
    assert hashed is not None
    assert hashed.key == "h_" + hashlib.md5(b"\\N\x1f3\x1f\\N").hexdigest()
    assert hashed.moment is None
