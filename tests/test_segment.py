"""Segment-compatible endpoints, driven by the real Segment Python SDK against a real server.

``segment-analytics-python`` posts to ``/v1/batch`` (basic auth with the write
key as the user, optionally gzipped) of a weir served by Uvicorn in a thread;
its track/page/identify calls land in staging exactly once, mapped by
``collector.segment``; a bad key gets 401 in weir's one error shape.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment.analytics import Client
from segment.analytics.request import APIError
from served import serving

import weir
from weir.project.loader import load_project
from weir.project.segment import SegmentMapping
from weir.serve.app import create_app
from weir.streams.segment import map_message, map_messages
from weir.workspace import init_project

# recent: the collector judges duplicates among events of its dedupe window (7 days)
EXAMPLE = Path(weir.__file__).parent / "demo" / "example"
WHEN = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@dataclass
class Running:
    url: str
    key: str
    project: weir.Project

    def client(self, key: str | None = None, gzip: bool = False) -> Client:
        return Client(key or self.key, host=self.url, sync_mode=True, gzip=gzip, max_retries=0)

    def rows(self, query: str, expected: int, seconds: float = 20.0) -> list[dict[str, object]]:
        """Rows of ``query`` once the collector's flusher has put ``expected`` of them in the lake."""
        deadline = time.monotonic() + seconds
        while True:
            rows: list[dict[str, object]] = []
            # the table does not exist before the first flush
            with contextlib.suppress(weir.WeirError):
                rows = self.project.sql(query).to_pylist()
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Running]:
    root = init_project(tmp_path / "shop")
    with (root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("\ncollector:\n  flush_seconds: 0.2\n")
    project = weir.Project(root)
    key = (
        project.access.write_keys().create(["web_traffic", "crm_interactions"], "segment test").key
    )
    try:
        with serving(project) as base:
            yield Running(base, key, project)
    finally:
        project.close()


def test_track_page_identify_land_once_in_their_sources(served: Running) -> None:
    client = served.client()
    ids = {name: str(uuid.uuid4()) for name in ("page", "click", "identify", "feedback")}
    client.page(
        user_id="42",
        name="Product",
        properties={"path": "/product/17", "session_id": "s-9", "device_type": "Mobile"},
        timestamp=WHEN,
        message_id=ids["page"],
    )
    client.track(
        user_id="42",
        event="Added to cart",
        properties={"path": "/product/17", "element": "add_to_cart", "session_id": "s-9"},
        timestamp=WHEN,
        message_id=ids["click"],
    )
    client.identify(
        user_id="42", traits={"channel": "App"}, timestamp=WHEN, message_id=ids["identify"]
    )
    client.track(
        user_id="42",
        event="Feedback Submitted",
        properties={"rating": 4, "channel": "Email", "message": "quick delivery"},
        timestamp=WHEN,
        message_id=ids["feedback"],
    )
    # an SDK retry after a lost answer: the same messages again
    client.page(
        user_id="42",
        properties={"path": "/product/17", "session_id": "s-9", "device_type": "Mobile"},
        timestamp=WHEN,
        message_id=ids["page"],
    )

    web = served.rows("SELECT * FROM staging.web_traffic ORDER BY event_type DESC", 2)
    assert [(r["event_id"], r["event_type"]) for r in web] == [
        (ids["page"], "View"),
        (ids["click"], "Click"),
    ]
    assert web[0]["session_id"] == "s-9" and web[0]["user_id"] == 42
    assert web[0]["page"] == "/product/17" and web[1]["element"] == "add_to_cart"
    assert web[0]["timestamp"] == WHEN
    crm = served.rows("SELECT * FROM staging.crm_interactions ORDER BY interaction_type", 2)
    assert [(r["event_id"], r["interaction_type"], r["channel"]) for r in crm] == [
        (ids["feedback"], "Feedback", "Email"),
        (ids["identify"], "Loyalty", "App"),
    ]
    assert crm[0]["rating"] == 4 and crm[0]["customer_id"] == 42
    time.sleep(0.5)  # one more flush: still once each
    [n] = served.project.sql("SELECT count(*) AS n FROM staging.web_traffic").to_pylist()
    assert n["n"] == 2
    streams = {s.stream: s for s in served.project.streams.status()}
    web_stream = streams["collector:web_traffic"]
    assert (web_stream.kind, web_stream.backlog) == ("collector", 0)
    assert web_stream.events_per_second > 0 and web_stream.last_commit_at is not None


def test_a_gzipped_batch_with_unmappable_messages_quarantines_them(served: Running) -> None:
    client = served.client(gzip=True)
    client.alias(previous_id="anon-1", user_id="42", timestamp=WHEN)  # no target: kept whole
    client.page(
        anonymous_id="anon-1",
        properties={"path": "/nowhere"},  # breaks the contract's page pattern
        timestamp=WHEN,
    )
    client.track(
        anonymous_id="anon-1",
        event="Scrolled",
        properties={"path": "/", "event_type": "Scroll"},
        timestamp=WHEN,
    )
    staged = served.rows("SELECT * FROM staging.web_traffic", 1)
    assert [(r["session_id"], r["event_type"]) for r in staged] == [("anon-1", "Scroll")]
    held = served.rows("SELECT _raw, _reasons FROM quarantine.web_traffic", 2)
    assert len(held) == 2
    raws = " ".join(str(r["_raw"]) for r in held)
    assert '"type":"alias"' in raws.replace(" ", "")


def test_a_raw_batch_post_and_the_single_call_endpoints(served: Running) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{served.key}:".encode()).decode()}
    message = {
        "messageId": "m-1",
        "anonymousId": "anon-7",
        "properties": {"path": "/cart"},
        "timestamp": WHEN.isoformat(),
    }
    answer = httpx.post(f"{served.url}/v1/page", json=message, headers=auth)
    assert answer.status_code == 200 and answer.json() == {"success": True}
    batch = {"batch": [{**message, "type": "page"}], "writeKey": served.key}
    answer = httpx.post(f"{served.url}/v1/batch", json=batch)  # the key in the body only
    assert answer.status_code == 200 and answer.json() == {"success": True}
    staged = served.rows("SELECT event_id, page FROM staging.web_traffic", 1)
    assert staged == [{"event_id": "m-1", "page": "/cart"}]

    wrong = httpx.post(f"{served.url}/v1/batch", content=b"[1, 2]", headers=auth)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "bad_segment_body"


def test_hostile_bodies_are_refused_after_the_key_never_crash(served: Running) -> None:
    """The key is checked before the body is parsed; what Python cannot parse safely is a 400."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{served.key}:".encode()).decode()}
    deep = '{"type": "track", "event": "x", "properties": ' + "[" * 5000 + "]" * 5000 + "}"
    digits = '{"type": "track", "event": "x", "properties": {"n": ' + "9" * 5000 + "}}"
    for call in ("batch", "track", "page", "screen", "identify", "group", "alias"):
        for body in (deep, digits):
            if call == "batch":
                body = '{"batch": [' + body + "]}"
            url = f"{served.url}/v1/{call}"
            anonymous = httpx.post(url, content=body.encode())
            assert anonymous.status_code == 401, (call, anonymous.text)
            assert anonymous.json()["error"]["code"] == "unauthorized"
            refused = httpx.post(url, content=body.encode(), headers=auth)
            assert refused.status_code == 400, (call, refused.text)
            assert refused.json()["error"]["code"] == "bad_segment_body"
            keyed = body[:-1] + f', "writeKey": "{served.key}"}}'
            in_body = httpx.post(url, content=keyed.encode())
            assert in_body.status_code == 400, (call, in_body.text)
    for key in (5, None, ["k"], {"k": 1}):  # a key that is not text is refused, never ignored
        odd = json.dumps({"type": "track", "event": "x", "writeKey": key})
        answer = httpx.post(f"{served.url}/v1/track", content=odd.encode(), headers=auth)
        assert answer.status_code == 400, answer.text
        inner = json.dumps({"batch": [{"type": "track", "event": "x", "writeKey": served.key}]})
    assert httpx.post(f"{served.url}/v1/batch", content=inner.encode()).status_code == 401

    message = json.dumps({"type": "track", "event": "x", "anonymousId": "a"}).encode()
    gzipped = {**auth, "Content-Encoding": "gzip"}
    for broken in (gzip.compress(message) + b"garbage", gzip.compress(message)[:-6]):
        answer = httpx.post(f"{served.url}/v1/track", content=broken, headers=gzipped)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "bad_segment_body"
    keyed_gzip = gzip.compress(message[:-1] + f', "writeKey": "{served.key}"}}'.encode())
    answer = httpx.post(
        f"{served.url}/v1/track", content=keyed_gzip, headers={"Content-Encoding": "gzip"}
    )
    assert answer.status_code == 401  # a compressed body's key goes in the header


def test_a_bad_key_is_refused_in_the_one_error_shape(served: Running) -> None:
    with pytest.raises(APIError) as caught:
        served.client(key="wk_nope_nope").track(user_id="1", event="x", timestamp=WHEN)
    assert caught.value.status == 401
    body = json.loads(caught.value.message)
    assert body["error"]["status"] == 401 and body["error"]["code"] == "unauthorized"
    assert set(body["error"]) >= {"status", "code", "message", "fix"}

    limited = served.project.access.write_keys().create(["web_traffic"], "web only").key
    with pytest.raises(APIError) as caught:
        served.client(key=limited).identify(user_id="1", traits={}, timestamp=WHEN)
    assert caught.value.status == 403


def test_the_mapping_is_pure_and_keeps_what_it_cannot_map(served: Running) -> None:
    sources = served.project.files.sources
    mapping = SegmentMapping()
    source, record = map_message(
        {
            "type": "track",
            "event": "Complaint Filed",
            "userId": "7",
            "messageId": "c-1",
            "properties": {"case_id": "K-1", "case_status": "open"},
            "timestamp": WHEN.isoformat(),
        },
        mapping,
        sources,
    )
    assert source == "crm_interactions"
    assert json.loads(record) == {
        "event_id": "c-1",
        "customer_id": "7",
        "interaction_type": "Complaint",
        "case_id": "K-1",
        "case_status": "open",
        "timestamp": WHEN.timestamp(),
    }
    assert map_message("not an object", mapping, sources) == ("web_traffic", '"not an object"')
    _, kept = map_message(
        {"type": "page", "messageId": "p", "anonymousId": "a", "timestamp": "yesterday"},
        mapping,
        sources,
    )
    assert json.loads(kept)["timestamp"] == "yesterday"  # for the contract to reject, with a reason


def test_the_streams_status_counts_what_the_log_holds_before_a_flush(tmp_path: Path) -> None:
    with weir.Project(init_project(tmp_path / "shop")) as project:
        collector = project.streams.collector()
        try:
            events = [
                json.dumps(
                    {
                        "event_id": f"w{i}",
                        "session_id": "s",
                        "page": "/",
                        "timestamp": WHEN.timestamp(),
                    }
                )
                for i in range(5)
            ]
            receipt = collector.submit_sync("web_traffic", events)
            assert receipt.accepted == 5
            [logged] = [s for s in project.streams.status() if s.kind == "collector"]
            assert (logged.stream, logged.backlog, logged.last_commit_at) == (
                "collector:web_traffic",
                5,
                None,
            )
            collector.flush()
            [flushed] = [s for s in project.streams.status() if s.kind == "collector"]
            assert flushed.backlog == 0 and flushed.last_commit_at is not None
        finally:
            collector.close()


def test_a_message_for_a_source_the_collector_does_not_take_is_refused(tmp_path: Path) -> None:
    root = init_project(tmp_path / "shop")
    with (root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("\ncollector:\n  sources: [web_traffic]\n")
    with weir.Project(root) as project:
        key = project.access.write_keys().create(["web_traffic"], "web only").key
        app = create_app(project)

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
                message = {"userId": "1", "traits": {}, "writeKey": key}
                return await client.post("/v1/identify", json=message)

        answer = asyncio.run(post())
        app.state.collector.close()
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found" and "crm_interactions" in error["message"]


def test_a_project_without_the_default_targets_serves_without_segment(tmp_path: Path) -> None:
    with weir.Project(init_project(tmp_path / "bare", example=None)) as project:
        app = create_app(project)
        assert not [r for r in app.routes if getattr(r, "path", "").startswith("/v1/")]
        app.state.collector.close()


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_messages = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["track", "page", "screen", "identify", "group", "alias", "x"])},
        optional={
            "event": st.sampled_from(["Feedback Submitted", "Complaint Filed", "Clicked", ""]),
            "messageId": st.text(max_size=6),
            "userId": st.one_of(st.integers(), st.text(max_size=4)),
            "properties": st.dictionaries(st.text(max_size=6), _json, max_size=3),
            "timestamp": st.one_of(st.text(max_size=10), st.just("2025-01-01T00:00:00Z")),
        },
    ),
)


SOURCES = load_project(EXAMPLE).sources
MAPPING = SegmentMapping()


@settings(max_examples=200, deadline=None)
@given(messages=st.lists(_messages, max_size=12))
def test_every_message_becomes_exactly_one_json_record(messages: list[object]) -> None:
    mapped = map_messages(messages, MAPPING, SOURCES)
    assert sum(len(records) for records in mapped.values()) == len(messages)
    assert set(mapped) <= {"web_traffic", "crm_interactions"}
    for records in mapped.values():
        for record in records:
            json.loads(record)  # each one is JSON text the contract can judge


def test_a_segment_batch_is_taken_whole_or_not_at_all_and_counted(tmp_path: Path) -> None:
    """A batch over the request's event limit (counted across its sources) leaves no trace."""
    root = init_project(tmp_path / "shop")
    with (root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("\ncollector:\n  max_events_per_request: 50\n")
    project = weir.Project(root)
    app = create_app(project)
    collector = app.state.collector
    key = project.access.write_keys().create(["web_traffic", "crm_interactions"]).key
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    stamp = WHEN.isoformat()
    page = {"type": "page", "anonymousId": "a1", "timestamp": stamp, "properties": {"path": "/"}}
    identify = {"type": "identify", "userId": "7", "timestamp": stamp, "traits": {"rating": 4}}

    async def post(messages: list[dict[str, object]]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            return await client.post("/v1/batch", json={"batch": messages}, headers=auth)

    try:
        # each source alone is within the limit; the request is not (1 + 50 > 50)
        refused = asyncio.run(post([page] + [dict(identify, messageId=f"m{n}") for n in range(50)]))
        assert refused.status_code == 413, refused.text
        assert all(lane.wal.end == lane.committed for lane in collector._lanes.values())
        assert collector.flush() == [] or all(
            r.result.counts.received == 0 for r in collector.flush()
        )
        taken = asyncio.run(post([page, dict(identify, messageId="m-ok")]))
        assert taken.status_code == 200, taken.text
        metrics = asyncio.run(_metrics(app))
        assert 'weir_collector_events_total{fate="received",source="web_traffic"} 1.0' in metrics
        assert (
            'weir_collector_events_total{fate="received",source="crm_interactions"} 1.0' in metrics
        )
    finally:
        collector.close()
        project.close()


async def _metrics(app: object) -> str:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
        return (await client.get("/metrics")).text
