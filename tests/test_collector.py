"""The HTTP event collector, in process: receipts, errors, durability, flushes, compaction."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import AMEX, T0, VISA, crm_event, jsonl, land, rows, scalar, spaced, web_event
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyiceberg.expressions import GreaterThanOrEqual

import weir
from weir.serve.app import create_app
from weir.streams.collector import Collector
from weir.streams.flush_process import failure_line, flush_logs, read_report
from weir.streams.health import FlushFailure

DAY = 86400


def configure(root: Path, **settings: object) -> None:
    """Change settings of the ``collector:`` section of the project's weir.yml."""
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("collector", {}).update(settings)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


class Server:
    """One in-process app over a project, with a write key for every collected source."""

    def __init__(self, root: Path) -> None:
        self.project = weir.Project(root)
        self.app = create_app(self.project)
        self.collector: Collector = self.app.state.collector
        self.key = self.project.access.write_keys().create(self.collector.sources).key
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://weir"
        )

    async def post(
        self, source: str, body: Any = None, *, content: bytes | str | None = None, **headers: str
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.key}", **headers}
        if content is not None:
            return await self.client.post(f"/collect/v1/{source}", content=content, headers=sent)
        return await self.client.post(f"/collect/v1/{source}", json=body, headers=sent)

    async def close(self) -> None:
        await self.client.aclose()
        self.collector.close()
        self.project.close()


@pytest.fixture
def server(project_root: Path) -> Iterator[Server]:
    opened = Server(project_root)
    yield opened
    asyncio.run(opened.close())


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def receipt(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert body["error"]["message"] and "fix" in body["error"]
    return dict(body["error"])


def staged_ids(project: weir.Project) -> list[str]:
    return sorted(r["event_id"] for r in rows(project, "SELECT event_id FROM staging.web_traffic"))


# -- receiving ------------------------------------------------------------------------------
def test_an_object_an_array_and_ndjson(project_root: Path) -> None:
    async def scenario() -> None:
        server = Server(project_root)
        try:
            one = await server.post("web_traffic", web_event("o1"))
            assert receipt(one) == {
                "accepted": 1,
                "quarantined": 0,
                "duplicates": 0,
                "rejected": [],
            }
            many = await server.post("web_traffic", [web_event("a1"), web_event("a2"), 7])
            assert receipt(many) == {
                "accepted": 2,
                "quarantined": 1,
                "duplicates": 0,
                "rejected": [
                    {"index": 2, "reasons": ["not a JSON object: each record must be {...}"]}
                ],
            }
            lines = jsonl(web_event("n1"), "{not json", web_event("o1"))
            ndjson = await server.post(
                "web_traffic", content=lines, **{"Content-Type": "application/x-ndjson"}
            )
            assert receipt(ndjson) == {
                "accepted": 1,
                "quarantined": 1,
                "duplicates": 1,
                "rejected": [{"index": 1, "reasons": ["malformed JSON: the line does not parse"]}],
            }
            sniffed = await server.post(
                "web_traffic", content=jsonl(web_event("s1"), web_event("s2"))
            )
            assert receipt(sniffed)["accepted"] == 2
            assert server.collector.backlog("web_traffic") == 9
        finally:
            await server.close()

    run(scenario())


MIXED = [
    web_event("m1"),
    web_event("m2", page="/nowhere"),
    web_event("m3", user_id="abc", device_type="Toaster"),
    web_event("m1"),  # a duplicate of the first
    web_event(None, session_id=None),
    web_event("m5", timestamp=time.time() + 10 * DAY),
    web_event("m6", colour="red"),
    web_event(None),  # no id: a content hash stands in
    web_event(None),  # ... the same content: a duplicate
]


def test_counts_and_reasons_match_batch_ingestion(project_root: Path, tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in MIXED] + ["{broken", "[1, 2]"]

    async def post() -> dict[str, Any]:
        server = Server(project_root)
        try:
            return receipt(
                await server.post(
                    "web_traffic",
                    content="\n".join(lines),
                    **{"Content-Type": "application/x-ndjson"},
                )
            )
        finally:
            await server.close()

    got = run(post())
    batch_root = weir.init_project(tmp_path / "batch")
    land(batch_root, "web_traffic", "events.jsonl", "\n".join(lines) + "\n")
    with weir.Project(batch_root) as batch:
        [result] = batch.sources.ingest(["web_traffic"])
        held = rows(batch, "SELECT _offset, _reasons FROM quarantine.web_traffic ORDER BY _offset")
    counts = result.counts
    assert (got["accepted"], got["quarantined"], got["duplicates"]) == (
        counts.accepted,
        counts.quarantined,
        counts.duplicates,
    )
    assert (counts.accepted, counts.quarantined, counts.duplicates) == (2, 7, 2)
    # a file's offsets are line numbers (from 1); a request's indexes count from 0
    assert [(r["index"] + 1, r["reasons"]) for r in got["rejected"]] == [
        (h["_offset"], h["_reasons"]) for h in held
    ]


def test_the_flush_lands_every_event_once_and_agrees_with_the_receipts(server: Server) -> None:
    async def scenario() -> None:
        first = receipt(await server.post("web_traffic", [web_event(f"f{i}") for i in range(50)]))
        again = receipt(
            await server.post("web_traffic", [web_event(f"f{i}") for i in range(40, 60)])
        )
        assert first["accepted"] == 50 and (again["accepted"], again["duplicates"]) == (10, 10)

    run(scenario())
    reports = server.collector.flush()
    assert reports and all(r.matches_receipts for r in reports)
    assert server.collector.backlog("web_traffic") == 0
    assert staged_ids(server.project) == sorted(f"f{i}" for i in range(60))
    assert scalar(server.project, "SELECT count(*) FROM raw.web_traffic") == 70
    assert server.collector.flush() == []  # nothing new: nothing written
    logs = list((server.project.root / ".weir" / "wal" / "web_traffic").glob("*.wal"))
    assert logs and all(path.stat().st_size == 0 for path in logs)  # flushed: gone from the log
    [batch] = [b for b in server.project.ledger.batches("web_traffic") if b.kind == "stream"]
    assert batch.counts.received == 70
    stats = server.collector.stats()["web_traffic"]
    assert stats["received"] == 70 and stats["flushes"] == 1 and stats["backlog"] == 0


def test_restart_resumes_after_what_the_lake_holds(project_root: Path) -> None:
    async def post(ids: range, flush: bool) -> None:
        server = Server(project_root)
        try:
            receipt(
                await server.post(
                    "web_traffic", [web_event(f"r{i}", timestamp=time.time()) for i in ids]
                )
            )
            if flush:
                server.collector.flush()
        finally:
            await server.close()  # no flush on close: the rest waits in the log

    run(post(range(0, 10), flush=True))
    run(post(range(10, 20), flush=False))
    run(post(range(5, 25), flush=False))  # 5..19 again: duplicates, judged across the restart
    with weir.Project(project_root) as project:
        collector = project.streams.collector()
        assert collector.backlog("web_traffic") == 0  # not opened yet
        assert collector.open_logs() == ["web_traffic"]
        assert collector.backlog("web_traffic") == 30
        reports = collector.flush()
        assert all(r.matches_receipts for r in reports)
        assert [r.result.counts.accepted for r in reports] == [10, 5]
        assert [r.result.counts.duplicates for r in reports] == [0, 15]
        assert staged_ids(project) == sorted(f"r{i}" for i in range(25))
        collector.close()


def test_dedupe_across_restarts_after_a_flush(project_root: Path) -> None:
    now = time.time()

    async def post(event_id: str) -> dict[str, Any]:
        server = Server(project_root)
        try:
            got = receipt(await server.post("web_traffic", web_event(event_id, timestamp=now)))
            server.collector.flush()
            return got
        finally:
            await server.close()

    assert run(post("same"))["accepted"] == 1
    assert run(post("same"))["duplicates"] == 1
    with weir.Project(project_root) as project:
        assert staged_ids(project) == ["same"]


def test_late_events_land_in_their_own_days_partition(server: Server) -> None:
    days = [T0 - 3 * DAY, T0, T0 - 3 * DAY + 60]

    async def scenario() -> None:
        receipt(
            await server.post(
                "web_traffic", [web_event(f"d{i}", timestamp=t) for i, t in enumerate(days)]
            )
        )

    run(scenario())
    server.collector.flush()
    table = server.project.lake.table("staging", "web_traffic")
    by_file: dict[str, int] = {}
    for task in table.scan().plan_files():
        by_file[str(task.file.partition)] = task.file.record_count
    assert sorted(by_file.values()) == [1, 2]  # two days, two partitions
    got = rows(
        server.project,
        "SELECT CAST(timestamp AS DATE) AS day, count(*) AS n FROM staging.web_traffic GROUP BY 1 ORDER BY 1",
    )
    assert [r["n"] for r in got] == [2, 1]


# -- card data never in clear -----------------------------------------------------------------
def test_card_numbers_never_reach_disk_in_clear(project_root: Path) -> None:
    configure(project_root, sources=["crm_interactions", "pos"])

    async def scenario() -> None:
        server = Server(project_root)
        try:
            got = receipt(
                await server.post(
                    "crm_interactions",
                    [
                        crm_event("c1", message_excerpt=f"my card is {spaced(VISA)} thanks"),
                        crm_event("c2", message_excerpt=f"amex {AMEX}", rating=9),
                        {"event_id": "c3", "note": VISA},  # unknown field: kept whole, redacted
                    ],
                )
            )
            assert (got["accepted"], got["quarantined"]) == (1, 2)
            pos = receipt(
                await server.post(
                    "pos",
                    [
                        {
                            "transaction_id": "t1",
                            "store_id": 1,
                            "product_id": 2,
                            "quantity": 1,
                            "revenue": 5,
                            "timestamp": T0,
                            "card_number": VISA,
                        },
                        {
                            "transaction_id": "t2",
                            "store_id": 1,
                            "product_id": 2,
                            "quantity": 0,
                            "revenue": 5,
                            "timestamp": T0,
                            "card_number": spaced(VISA),
                            "x": AMEX,
                        },
                    ],
                )
            )
            assert (pos["accepted"], pos["quarantined"]) == (1, 1)
            wal = (project_root / ".weir" / "wal").rglob("*.wal")
            for path in wal:  # before any flush, the log alone holds the events
                data = path.read_bytes()
                for card in (VISA, AMEX, spaced(VISA), spaced(AMEX)):
                    assert card.encode() not in data, path
            reports = server.collector.flush()
            assert all(r.matches_receipts for r in reports)
        finally:
            await server.close()

    run(scenario())
    for path in (project_root / ".weir").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for card in (VISA, AMEX, spaced(VISA), spaced(AMEX)):
                assert card.encode() not in data, path
    # the token is the batch path's token: the same card joins across both ways in
    land(
        project_root,
        "pos",
        "pos_2025-01-02_store001.csv",
        "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp,customer_id,card_number\n"
        f"b1,1,2,1,5,,{T0},,{VISA}\n",
    )
    with weir.Project(project_root) as project:
        project.sources.ingest(["pos"])
        cards = rows(
            project,
            "SELECT transaction_id, card_number, card_number_last4 FROM staging.pos ORDER BY 1",
        )
        assert [c["transaction_id"] for c in cards] == ["b1", "t1"]
        assert cards[0]["card_number"] == cards[1]["card_number"]
        assert (
            cards[1]["card_number"].startswith("tok_") and cards[1]["card_number_last4"] == "1111"
        )
        held = rows(project, "SELECT _raw FROM quarantine.crm_interactions WHERE _raw IS NOT NULL")
        assert any("[card ****1111]" in h["_raw"] for h in held)


# -- errors -----------------------------------------------------------------------------------
def test_errors_have_the_one_shape(project_root: Path) -> None:
    configure(project_root, max_body_bytes=2048, max_events_per_request=5)

    async def scenario() -> None:
        server = Server(project_root)
        try:
            bad = error(await server.post("web_traffic", content='{"a": 1,'), 400, "bad_json")
            assert "line 1 column 9" in bad["message"]
            extra = error(
                await server.post(
                    "web_traffic",
                    content='{"a": 1}\n{"b": 2}',
                    **{"Content-Type": "application/json"},
                ),
                400,
                "bad_json",
            )
            assert "x-ndjson" in extra["fix"]
            big = error(await server.post("web_traffic", content="x" * 4096), 413, "too_large")
            assert "4096 bytes" in big["message"]

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10):
                    yield b" " * 512

            streamed = await server.client.post(
                "/collect/v1/web_traffic",
                content=chunks(),
                headers={"Authorization": f"Bearer {server.key}"},
            )
            error(streamed, 413, "too_large")  # no Content-Length: counted while read
            error(
                await server.post("web_traffic", [web_event(str(i)) for i in range(6)]),
                413,
                "too_large",
            )
            unknown = error(await server.post("web_trafic", web_event("x")), 404, "not_found")
            assert unknown["fix"] == "did you mean web_traffic?"
            error(await server.post("pos_nowhere", web_event("x")), 404, "not_found")
            anonymous = await server.client.post("/collect/v1/web_traffic", json=web_event("x"))
            error(anonymous, 401, "unauthorized")
            wrong = await server.client.post(
                "/collect/v1/web_traffic",
                json=web_event("x"),
                headers={"Authorization": "Bearer wk_nope"},
            )
            error(wrong, 401, "unauthorized")
            basic = await server.client.post(
                "/collect/v1/web_traffic", json=web_event("ok"), auth=(server.key, "")
            )
            assert receipt(basic)["accepted"] == 1  # trackers send the key as basic-auth user
            narrow = server.project.access.write_keys().create(["crm_interactions"]).key
            denied = await server.client.post(
                "/collect/v1/web_traffic",
                json=web_event("x"),
                headers={"Authorization": f"Bearer {narrow}"},
            )
            error(denied, 403, "forbidden")
            server.app.state.write_keys.revoke(narrow)  # the server's own keys: at once
            revoked = await server.client.post(
                "/collect/v1/crm_interactions",
                json=crm_event("x"),
                headers={"Authorization": f"Bearer {narrow}"},
            )
            error(revoked, 401, "unauthorized")
        finally:
            await server.close()

    run(scenario())


def test_backpressure_answers_503_with_retry_after(project_root: Path) -> None:
    configure(project_root, max_log_bytes=4096, flush_seconds=7)

    async def scenario() -> None:
        server = Server(project_root)
        try:
            answers = []
            for i in range(20):
                answers.append(
                    await server.post("web_traffic", [web_event(f"b{i}-{j}") for j in range(5)])
                )
                if answers[-1].status_code != 200:
                    break
            refused = answers[-1]
            body = error(refused, 503, "overloaded")
            assert refused.headers["Retry-After"] == "7" and "flushed" in body["message"]
            server.collector.flush()  # the lake catches up: the log takes events again
            assert receipt(await server.post("web_traffic", web_event("after")))["accepted"] == 1
        finally:
            await server.close()

    run(scenario())


def test_metrics_count_events_and_flushes(server: Server) -> None:
    async def scenario() -> str:
        receipt(await server.post("web_traffic", [web_event("p1"), web_event("p1"), {"x": 1}]))
        server.collector.flush()
        return (await server.client.get("/metrics")).text

    text = run(scenario())
    assert 'weir_collector_events_total{fate="received",source="web_traffic"} 3.0' in text
    assert 'weir_collector_events_total{fate="duplicate",source="web_traffic"} 1.0' in text
    assert 'weir_collector_backlog_events{source="web_traffic"} 0.0' in text
    assert 'weir_collector_flush_seconds_count{source="web_traffic"} 1.0' in text


# -- values the lake cannot hold ----------------------------------------------------------------
YEAR_ZERO = -62135596801  # 0000-12-31 23:59:59 UTC: DuckDB reads it, Iceberg cannot store it


def test_a_time_the_lake_cannot_hold_is_quarantined_at_the_door(server: Server) -> None:
    async def scenario() -> dict[str, Any]:
        poison = {"event_id": "year0", "customer_id": 1, "interaction_type": "Feedback"}
        got = receipt(
            await server.post(
                "crm_interactions", [{**poison, "timestamp": YEAR_ZERO}, crm_event("c1")]
            )
        )
        receipt(await server.post("web_traffic", [web_event("w1")]))
        return got

    got = run(scenario())
    reason = (
        f"timestamp: '{YEAR_ZERO}' is out of range "
        "(the lake holds 0001-01-01 to 9999-12-31 23:59:59.999999 UTC)"
    )
    assert got == {
        "accepted": 1,
        "quarantined": 1,
        "duplicates": 0,
        "rejected": [{"index": 0, "reasons": [reason]}],
    }
    reports = server.collector.flush()
    assert {r.source for r in reports} == {"crm_interactions", "web_traffic"}
    assert all(r.matches_receipts for r in reports)
    assert staged_ids(server.project) == ["w1"]
    assert rows(server.project, "SELECT event_id FROM staging.crm_interactions") == [
        {"event_id": "c1"}
    ]
    assert rows(server.project, "SELECT event_id, _reasons FROM quarantine.crm_interactions") == [
        {"event_id": "year0", "_reasons": [reason]}
    ]
    stats = server.collector.stats()
    assert stats["crm_interactions"]["backlog"] == 0 and stats["web_traffic"]["backlog"] == 0


def refuse_commits_of(monkeypatch: pytest.MonkeyPatch, lake: Any, source: str) -> None:
    """Make the lake's commit of ``source``'s batches fail as a value Iceberg cannot hold does."""
    commit = lake.commit

    def failing(batch_id: str, writes: Any, properties: Any, **options: Any) -> Any:
        if properties.get("weir.source") == source:
            raise OverflowError("date value out of range")
        return commit(batch_id, writes, properties, **options)

    monkeypatch.setattr(lake, "commit", failing)


def test_a_source_whose_flush_fails_does_not_stop_the_others(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def post() -> None:
        receipt(await server.post("crm_interactions", [crm_event("c1"), crm_event("c2")]))
        receipt(await server.post("web_traffic", [web_event("w1")]))

    run(post())
    refuse_commits_of(monkeypatch, server.collector.lake, "crm_interactions")
    with caplog.at_level("WARNING", logger="weir.collector"):
        reports = server.collector.flush()
    assert [r.source for r in reports] == ["web_traffic"]
    assert staged_ids(server.project) == ["w1"]
    # the failed batch was rolled back and stays in the log: nothing is lost
    assert not server.project.lake.exists("staging", "crm_interactions") or not rows(
        server.project, "SELECT event_id FROM staging.crm_interactions"
    )
    assert server.collector.backlog("crm_interactions") == 2
    stats = server.collector.stats()
    crm = stats["crm_interactions"]
    assert crm["errors"] == 1 and crm["failing_since"] is not None
    assert "date value out of range" in str(crm["last_error"])
    assert stats["web_traffic"]["errors"] == 0 and stats["web_traffic"]["last_error"] is None
    [warning] = [r for r in caplog.records if r.name == "weir.collector"]
    assert warning.levelname == "WARNING"
    assert "crm_interactions" in warning.getMessage()
    assert "date value out of range" in warning.getMessage()
    metrics = run(server.client.get("/metrics")).text
    assert 'weir_collector_flush_failures_total{source="crm_interactions"} 1.0' in metrics
    assert 'weir_collector_flush_failures_total{source="web_traffic"} 0.0' in metrics
    # `weir status` reads it from another process: the failure is kept on disk
    with weir.Project(server.project.root) as other:
        [status] = [s for s in other.streams.status() if s.source == "crm_interactions"]
    assert status.errors == 1 and status.failing_since is not None
    assert "date value out of range" in str(status.last_error)
    assert status.backlog == 2
    # a failing source backs off: the next rounds skip it until its retry time
    first_retry = float(crm["retry_at"])  # type: ignore[arg-type]
    assert first_retry > time.time()
    assert server.collector.flush() == []
    assert server.collector.stats()["crm_interactions"]["errors"] == 1
    before = time.time()
    with pytest.raises(weir.WeirError, match="date value out of range"):
        server.collector.flush("crm_interactions")  # asked for one source: tried, error raised
    after = time.time()
    crm = server.collector.stats()["crm_interactions"]
    assert crm["errors"] == 2
    wait = 2 * server.collector.config.flush_seconds  # the second failure in a row: twice as long
    assert before + wait <= float(crm["retry_at"]) <= after + wait  # type: ignore[arg-type]

    monkeypatch.undo()  # the cause is fixed: once its backoff is over, the batch leaves the log
    [report] = server.collector.flush(now=time.time() + 3600)
    assert report.source == "crm_interactions" and report.matches_receipts
    assert rows(server.project, "SELECT event_id FROM staging.crm_interactions ORDER BY 1") == [
        {"event_id": "c1"},
        {"event_id": "c2"},
    ]
    crm = server.collector.stats()["crm_interactions"]
    assert (crm["errors"], crm["last_error"], crm["failing_since"]) == (2, None, None)
    assert crm["retry_at"] is None
    with weir.Project(server.project.root) as other:
        [status] = [s for s in other.streams.status() if s.source == "crm_interactions"]
    assert (status.errors, status.last_error, status.failing_since) == (2, None, None)


def test_the_flush_process_flushes_each_source_on_its_own_and_reports_failures(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def post() -> None:
        receipt(await server.post("crm_interactions", [crm_event("c1")]))
        receipt(await server.post("web_traffic", [web_event("w1")]))

    run(post())
    server.collector.cut("crm_interactions")  # the server closes the batches the process takes
    server.collector.cut("web_traffic")
    # the flush process has a collector of its own over the same project
    with weir.Project(server.project.root) as beside:
        collector = beside.streams.collector()
        refuse_commits_of(monkeypatch, collector.lake, "crm_interactions")
        failures: list[tuple[str, str, float]] = []
        done = flush_logs(collector, lambda *failure: failures.append(failure))
        assert [source for source, _, _ in done] == ["web_traffic"]
        [(source, error, since)] = failures
        assert source == "crm_interactions" and "date value out of range" in error
        assert since > 0
        monkeypatch.undo()
        done = flush_logs(collector, lambda *failure: failures.append(failure))
        assert [source for source, _, _ in done] == ["crm_interactions"]
        assert len(failures) == 1
        collector.close()
    # what the server reads from the process's stdout
    failure = FlushFailure(source, error, since)
    assert read_report(failure_line(failure)) == failure
    assert read_report('["web_traffic", 0.5, true]\n') == ("web_traffic", 0.5, True)
    with pytest.raises(ValueError):
        read_report('{"something": "else"}')
    assert staged_ids(server.project) == ["w1"]
    assert rows(server.project, "SELECT event_id FROM staging.crm_interactions") == [
        {"event_id": "c1"}
    ]


# -- compaction -------------------------------------------------------------------------------
def test_compaction_keeps_every_row_and_time_travel(server: Server) -> None:
    now = time.time()  # inside the dedupe window

    async def post(batch: int) -> None:
        events = [web_event(f"k{batch}-{i}", timestamp=now) for i in range(3)]
        receipt(await server.post("web_traffic", events))

    for batch in range(5):
        run(post(batch))
        server.collector.flush()
    project = server.project
    lake = project.lake
    before = lake.table("staging", "web_traffic").current_snapshot()
    assert before is not None
    files_before = len(lake.data_files("staging", "web_traffic", before))
    assert files_before == 5
    done = server.collector.compact("web_traffic", min_files=3)
    assert any(d.startswith("staging.web_traffic") for d in done)
    after = lake.table("staging", "web_traffic").current_snapshot()
    assert after is not None and after.snapshot_id != before.snapshot_id
    assert len(lake.data_files("staging", "web_traffic", after)) == 1
    query = "SELECT event_id FROM staging.web_traffic ORDER BY 1"
    now_ids = [r["event_id"] for r in rows(project, query)]
    then_ids = [r["event_id"] for r in rows(project, query, snapshot=before.snapshot_id)]
    assert now_ids == then_ids and len(now_ids) == 15
    # later flushes build on the compacted table, and dedupe still sees its keys
    run(post(0))
    [report] = server.collector.flush()
    assert report.result.counts.duplicates == 3 and report.matches_receipts


# -- write keys from the command line -----------------------------------------------------------
def test_keys_create_list_and_revoke_from_the_cli(project_root: Path) -> None:
    from click.testing import CliRunner

    from weir.cli.main import cli

    def weir_cli(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--project", str(project_root), *args])

    created = weir_cli("keys", "create", "--source", "web_traffic", "--note", "shop website")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("wk_")
    listed = weir_cli("keys", "list", "--format", "json")
    [row] = json.loads(listed.stdout)
    assert row["sources"] == "web_traffic" and row["status"] == "active"
    assert key not in listed.stdout  # only its hash is stored
    with weir.Project(project_root) as project:
        assert project.access.write_keys().verify(key) == frozenset({"web_traffic"})
    typo = weir_cli("keys", "create", "--source", "web_trafic")
    assert typo.exit_code == 1 and "did you mean web_traffic?" in typo.output
    revoked = weir_cli("keys", "revoke", row["key_id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert json.loads(weir_cli("keys", "list", "--format", "json").stdout)[0]["status"] == "revoked"
    with weir.Project(project_root) as project, pytest.raises(weir.errors.AuthError):
        project.access.write_keys().verify(key)
    for command in ("create", "list", "revoke"):
        shown = weir_cli("keys", command, "--help")
        assert shown.exit_code == 0 and "Example" in shown.output


def test_the_dedupe_window_reads_only_recent_days(server: Server) -> None:
    now = time.time()
    old = now - 30 * DAY  # far older than the 7-day window

    async def post(*events: dict[str, Any]) -> dict[str, Any]:
        return receipt(await server.post("web_traffic", list(events)))

    run(post(web_event("recent", timestamp=now), web_event("ancient", timestamp=old)))
    server.collector.flush()
    lake = server.project.lake
    snapshot = lake.table("staging", "web_traffic").current_snapshot()
    everything = lake.data_files("staging", "web_traffic", snapshot)
    since = time.time() - 7 * DAY
    recent = server.project.sources.ingestor.recent_keys(
        server.project.files.source("web_traffic"), since
    )
    start = datetime.fromtimestamp(since, UTC).isoformat()
    pruned = lake.data_files(
        "staging", "web_traffic", snapshot, GreaterThanOrEqual("timestamp", start)
    )
    assert len(everything) == 2 and len(pruned) == 1  # the old day's file is not read
    assert set(recent) == {"recent"}
    # within the window a key is a duplicate; a key seen only before the window is not
    again = run(post(web_event("recent", timestamp=now), web_event("ancient", timestamp=old)))
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    [report] = server.collector.flush()
    assert report.matches_receipts


# -- every event accounted for, whatever arrives and however requests interleave -----------
SHAPES = st.sampled_from(["valid", "valid", "valid", "bad_page", "malformed", "no_id", "array"])


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example is slow
)
@given(
    requests=st.lists(
        st.lists(st.tuples(SHAPES, st.integers(0, 12)), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    )
)
def test_every_event_is_accounted_for_and_the_flush_agrees(
    shared_collector: tuple[weir.Project, Collector], requests: list[list[tuple[str, int]]]
) -> None:
    project, collector = shared_collector
    now = time.time()

    def text(shape: str, number: int) -> str:
        if shape == "malformed":
            return '{"event_id": '
        if shape == "array":
            return "[1, 2]"
        event = web_event(f"h{number}", timestamp=now)
        if shape == "bad_page":
            event["page"] = "/nowhere"
        if shape == "no_id":
            del event["event_id"]
            event["session_id"] = f"s{number}"  # a content hash: equal content, equal key
        return json.dumps(event)

    bodies = [[text(shape, number) for shape, number in request] for request in requests]
    refused = [
        [i for i, (shape, _) in enumerate(request) if shape in ("bad_page", "malformed", "array")]
        for request in requests
    ]

    async def post_all() -> list[Any]:
        return list(
            await asyncio.gather(*(collector.submit("web_traffic", body) for body in bodies))
        )

    collector.flush()  # what an earlier example left in the log
    before = (
        scalar(project, "SELECT count(*) FROM raw.web_traffic")
        if project.lake.exists("raw", "web_traffic")
        else 0
    )
    receipts = run(post_all())
    for body, expected, got in zip(bodies, refused, receipts, strict=True):
        assert got.accepted + got.quarantined + got.duplicates == len(body)
        assert [r.index for r in got.rejected] == expected
    reports = collector.flush()
    assert all(r.matches_receipts for r in reports)
    total = sum(len(body) for body in bodies)
    assert sum(r.result.counts.received for r in reports) == total
    assert scalar(project, "SELECT count(*) FROM raw.web_traffic") == before + total
    duplicated = rows(
        project, "SELECT event_id FROM staging.web_traffic GROUP BY 1 HAVING count(*) > 1"
    )
    assert duplicated == []


@pytest.fixture(scope="module")
def shared_collector(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[weir.Project, Collector]]:
    root = weir.init_project(tmp_path_factory.mktemp("property") / "shop")
    project = weir.Project(root)
    collector = project.streams.collector()
    yield project, collector
    collector.close()
    project.close()


def test_an_unknown_source_in_the_collector_settings_fails_loudly(project_root: Path) -> None:
    configure(project_root, sources=["web_traffic", "clicks"])
    with weir.Project(project_root) as project, pytest.raises(weir.errors.ProjectError) as caught:
        project.streams.collector()
    assert "collector.sources names clicks" in str(caught.value)


def test_a_long_key_is_logged_and_flushed(server: Server) -> None:
    long_id = "k" * 100_000  # longer than a 16-bit length field

    async def scenario() -> dict[str, Any]:
        return receipt(await server.post("web_traffic", [web_event(long_id), web_event(long_id)]))

    assert run(scenario())["duplicates"] == 1
    [report] = server.collector.flush()
    assert report.matches_receipts and staged_ids(server.project) == [long_id]


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_the_flusher_service_flushes_in_the_background_and_on_stop(
    project_root: Path, process: bool
) -> None:
    configure(project_root, flush_seconds=0.2, flush_process=process)

    async def scenario() -> None:
        server = Server(project_root)
        [flusher] = [s for s in server.app.state.services if s.name == "collector-flusher"]
        try:
            flusher.start()
            receipt(await server.post("web_traffic", [web_event("bg1"), web_event("bg2")]))
            deadline = time.monotonic() + 20
            while server.collector.backlog("web_traffic") and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert server.collector.backlog("web_traffic") == 0
            receipt(await server.post("web_traffic", web_event("on-stop")))
            flusher.stop()  # a clean stop flushes what is left, then closes the logs
            assert staged_ids(server.project) == ["bg1", "bg2", "on-stop"]
            assert server.collector.stats() == {}  # the logs are closed
        finally:
            await server.close()

    run(scenario())


def test_little_free_disk_answers_503(project_root: Path) -> None:
    configure(project_root, min_free_disk_bytes=1 << 62)

    async def scenario() -> None:
        server = Server(project_root)
        try:
            refused = await server.post("web_traffic", web_event("x"))
            assert "disk" in error(refused, 503, "overloaded")["message"]
            assert int(refused.headers["Retry-After"]) > 0
        finally:
            await server.close()

    run(scenario())


# -- hostile bodies -------------------------------------------------------------------------
def test_a_lone_surrogate_is_quarantined_as_json_and_as_ndjson(server: Server) -> None:
    in_value = '{"event_id": "u1", "page": "\\ud800"}'
    in_key = '{"event_id": "u2", "\\udfff": 1}'
    as_ndjson = jsonl(web_event("u0"), in_value, in_key)
    expected = [
        {"index": i, "reasons": ["malformed JSON: the line does not parse"]} for i in (1, 2)
    ]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        array = await server.post(
            "web_traffic", content=f"[{json.dumps(web_event('u0'))}, {in_value}, {in_key}]"
        )
        lines = await server.post(
            "web_traffic", content=as_ndjson, **{"Content-Type": "application/x-ndjson"}
        )
        return receipt(array), receipt(lines)

    array, lines = run(scenario())
    assert array["accepted"] == 1 and array["quarantined"] == 2
    assert array["rejected"] == expected
    assert lines["quarantined"] == 2 and lines["rejected"] == expected


def test_a_request_the_check_cannot_take_fails_only_itself(server: Server) -> None:
    """Requests waiting together are checked as one group: a failing group is retried apart."""
    now = time.time()
    valid = [[json.dumps(web_event(f"g{i}", timestamp=now))] for i in range(24)]
    hostile = ['{"event_id": "bad", "page": "\ud800"}']  # not Unicode: no UTF-8 for the check

    async def scenario() -> list[Any]:
        submits = [server.collector.submit("web_traffic", texts) for texts in valid]
        submits.insert(12, server.collector.submit("web_traffic", hostile))
        return list(await asyncio.gather(*submits, return_exceptions=True))

    answers = run(scenario())
    assert isinstance(answers.pop(12), BaseException)
    assert [a.accepted for a in answers] == [1] * 24


def test_a_body_that_holds_no_event_is_refused(server: Server) -> None:
    async def scenario() -> None:
        for body in ("5", '"text"', "true", "null", "   "):
            refused = error(await server.post("web_traffic", content=body), 400, "bad_json")
            assert "not an event" in refused["message"] or "empty" in refused["message"]
        empty = await server.post(
            "web_traffic", content="\n", **{"Content-Type": "application/x-ndjson"}
        )
        assert "empty" in error(empty, 400, "bad_json")["message"]
        assert receipt(await server.post("web_traffic", []))["accepted"] == 0  # no events: fine

    run(scenario())


def test_deep_nesting_and_huge_integers_are_refused_not_crashed(server: Server) -> None:
    async def scenario() -> None:
        for depth in (100, 5000):
            deep = "[" * depth + "]" * depth
            refused = error(
                await server.post("web_traffic", content=f'{{"event_id": "d", "p": {deep}}}'),
                400,
                "bad_json",
            )
            assert "at most 64" in refused["message"]
        nested = {"event_id": "n1", "p": json.loads("[" * 60 + "]" * 60)}
        assert receipt(await server.post("web_traffic", [nested]))["quarantined"] == 1
        tricky = web_event("t1", session_id="[[[[" * 40)  # brackets in a string are text
        assert receipt(await server.post("web_traffic", tricky))["accepted"] == 1
        digits = error(
            await server.post("web_traffic", content='{"event_id": "i", "n": ' + "9" * 5000 + "}"),
            400,
            "bad_json",
        )
        assert "digits" in digits["message"]
        lines = jsonl(
            '{"event_id": "l1", "p": ' + "[" * 5000 + "]" * 5000 + "}",
            '{"event_id": "l2", "n": ' + "9" * 5000 + "}",
        )
        ndjson = await server.post(
            "web_traffic", content=lines, **{"Content-Type": "application/x-ndjson"}
        )
        assert receipt(ndjson)["quarantined"] == 2  # each line is one event the contract judges

    run(scenario())
