"""Retention: rows past their window are archived (verified) and gone, the rest stay; holds stop it.

The shop's POS files cover ten days, 2025-01-01 to 2025-01-10, with ``d`` sales
on day ``d`` (55 in all) at noon UTC, and one bad line on day 2 (quarantined).
Run "now" at 2025-01-11 00:00 UTC with ``keep: 5d`` by event time, the cut-off
is 2025-01-06 00:00: days 1 to 5 go (1 + 2 + 3 + 4 + 5 = 15 sales), days 6 to
10 stay (6 + 7 + 8 + 9 + 10 = 40).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import weir
from tests.conftest import NewDatabase, drop_sections, land, pos_csv, pos_line, web_event
from weir.cli.main import cli
from weir.errors import NotFoundError, ProjectError, QueryError, UnknownName
from weir.lake.maintenance import Maintenance
from weir.lifecycle import ArchiveError, HeldError, verify_archive
from weir.serve.app import create_app
from weir.streams.consumers.base import events_table
from weir.streams.logs import log_stream, wal_folder
from weir.streams.wal import WriteAheadLog, read_log, segments

NOW = datetime(2025, 1, 11, tzinfo=UTC)
GONE = {f"T{d:02d}-{i}" for d in range(1, 6) for i in range(d)}  # 15
KEPT = {f"T{d:02d}-{i}" for d in range(6, 11) for i in range(d)}  # 40
POS_STAGING_5D = (
    "retention:\n  sources:\n    pos:\n      staging: {keep: 5d, then: archive, age: event}\n"
)


def _noon(day: int) -> int:
    return int(datetime(2025, 1, day, 12, tzinfo=UTC).timestamp())


def _land_days(root: Path, days: range) -> None:
    for d in days:
        lines = [pos_line(f"T{d:02d}-{i}", timestamp=_noon(d)) for i in range(d)]
        if d == 2:
            lines.append(pos_line("BAD-2", quantity="abc", timestamp=_noon(d)))
        land(root, "pos", f"pos_2025-01-{d:02d}_store001.csv", pos_csv(*lines))


def _shop(tmp_path: Path, retention: str, days: range = range(1, 11)) -> Path:
    root = weir.init_project(tmp_path / "shop")
    drop_sections(root, "schedules", "alerts")
    _land_days(root, days)
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(retention)
    return root


def _ids(project: weir.Project, table: str) -> set[str]:
    return {
        r["transaction_id"] for r in project.sql(f"SELECT transaction_id FROM {table}").to_pylist()
    }


def _count(project: weir.Project, table: str) -> int:
    return int(project.sql(f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"])


def _archived(folder: Path) -> set[str]:
    ids: set[str] = set()
    for part in sorted(folder.glob("part-*.parquet")):
        ids |= set(pq.read_table(part, columns=["transaction_id"]).column(0).to_pylist())
    return ids


def test_rows_past_the_window_are_archived_then_gone_and_the_rest_stay(tmp_path: Path) -> None:
    root = _shop(tmp_path, POS_STAGING_5D)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        before = datetime.now(UTC)
        [planned] = project.lifecycle.plan(now=NOW)
        assert (planned.dataset, planned.kind, planned.rows, planned.files) == (
            "staging.pos",
            "archive",
            15,
            1,
        )
        assert (planned.time_from, planned.time_to) == (_noon(1), _noon(5))
        assert planned.cutoff == datetime(2025, 1, 6, tzinfo=UTC).timestamp()
        assert _ids(project, "staging.pos") == GONE | KEPT  # a plan changes nothing

        [done] = project.lifecycle.run(now=NOW)
        assert (done.kind, done.rows, done.note) == ("archive", 15, "done")
        folder = Path(done.archive or "")
        assert _ids(project, "staging.pos") == KEPT
        assert _archived(folder) == GONE
        assert verify_archive(folder, 15).rows == 15
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["table"] == "staging.pos" and manifest["rows"] == 15
        assert manifest["time_range"]["from"] == "2025-01-01T12:00:00+00:00"
        assert manifest["time_range"]["to"] == "2025-01-05T12:00:00+00:00"
        assert manifest["why"]["rule"] == "staging: keep 5d by event time, then archive"
        # the other layers are outside the rule: every record is still in raw and quarantine
        assert _count(project, "raw.pos") == 56 and _count(project, "quarantine.pos") == 1
        # the batch still reconciles: 15 of its 55 accepted rows were expired by retention
        checks = {c.layer: c for c in project.sources.reconcile(["pos"])}
        assert checks["staging"].state == "partly expired by retention"
        assert (checks["staging"].in_lake, checks["staging"].expired) == (
            {"accepted": 40},
            {"accepted": 15},
        )
        assert checks["raw"].state == checks["quarantine"].state == "ok"
        audited = {r.entry.action: r.entry for r in project.audit.records(kind="lifecycle")}
        destroyed = audited["lifecycle archive staging.pos"]
        assert destroyed.rows == 15 and destroyed.detail is not None
        assert destroyed.detail["archive"] == str(folder) and destroyed.detail["batches"] == 1
        # without a snapshots window the history that still held the rows is expired too
        with pytest.raises(NotFoundError, match="keeps its history from"):
            project.sql("SELECT count(*) FROM staging.pos", as_of=before)
        assert project.lifecycle.plan(now=NOW) == []  # done once: nothing is due again
        assert project.lifecycle.run(now=NOW) == []
    # the file that held the gone rows is deleted: what is left of the table holds only the rest
    left: set[str] = set()
    for part in (root / ".weir" / "lake" / "staging").rglob("*.parquet"):
        left |= set(pq.read_table(part, columns=["transaction_id"]).column(0).to_pylist())
    assert left == KEPT


def test_time_travel_inside_the_snapshot_window_works_and_before_it_is_refused(
    tmp_path: Path,
) -> None:
    root = _shop(tmp_path, "retention:\n  snapshots: 30d\n", days=range(1, 6))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        between = datetime.now(UTC)
        _land_days(root, range(6, 11))
        project.sources.ingest(["pos"])
        after = datetime.now(UTC)
        steps = project.lifecycle.plan(now=between + timedelta(days=30))
        assert {(s.dataset, s.kind, s.rows) for s in steps} == {
            ("raw.pos", "expire", 1),
            ("staging.pos", "expire", 1),
        }  # quarantine.pos has one snapshot, its current one, which is always kept
        project.lifecycle.run(now=between + timedelta(days=30))
        assert _count(project, "staging.pos") == 55  # expiring history removes no current row
        [row] = project.sql("SELECT count(*) AS n FROM staging.pos", as_of=after).to_pylist()
        assert row["n"] == 55
        with pytest.raises(NotFoundError, match="keeps its history from") as refused:
            project.sql("SELECT count(*) FROM staging.pos", as_of=between)
        assert "retention or erasure" in str(refused.value)


def test_raw_destroyed_by_age_of_receipt_still_reconciles(tmp_path: Path) -> None:
    root = _shop(
        tmp_path,
        "retention:\n  raw: {keep: 1d, then: destroy}\n  quarantine: {keep: 1d, then: archive}\n",
    )
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        later = datetime.now(UTC) + timedelta(days=2)
        done = {s.dataset: s for s in project.lifecycle.run(now=later)}
        assert (done["raw.pos"].kind, done["raw.pos"].rows) == ("destroy", 56)
        assert (done["quarantine.pos"].kind, done["quarantine.pos"].rows) == ("archive", 1)
        assert _count(project, "raw.pos") == 0 and _count(project, "quarantine.pos") == 0
        assert _archived(Path(done["quarantine.pos"].archive or "")) == {"BAD-2"}
        assert _ids(project, "staging.pos") == GONE | KEPT  # staging has no rule
        checks = {c.layer: c for c in project.sources.reconcile(["pos"])}
        assert checks["raw"].state == "expired by retention"
        assert checks["raw"].expired == {"accepted": 55, "quarantined": 1, "duplicate": 0}
        assert checks["quarantine"].state == "expired by retention"
        assert checks["staging"].state == "ok"
        [status] = [s for s in project.sources.status() if s.source == "pos"]
        assert status.totals.received == 56 and status.totals.reconciles()
        records = project.audit.records(kind="lifecycle")
        actions = {r.entry.action: r.entry.rows for r in records}
        assert actions["lifecycle destroy raw.pos"] == 56
        assert actions["lifecycle archive quarantine.pos"] == 1
    shown = CliRunner().invoke(
        cli, ["--project", str(root), "status", "--reconcile", "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    states = {(r["source"], r["layer"]): r["state"] for r in json.loads(shown.output)}
    assert states[("pos", "raw")] == "expired by retention"


def test_a_legal_hold_stops_destruction_until_released(tmp_path: Path) -> None:
    root = _shop(tmp_path, POS_STAGING_5D)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        hold = project.lifecycle.holds.add("pos", "claim 2026-114")
        [planned] = project.lifecycle.plan(now=NOW)
        assert planned.rows == 15 and planned.held and hold.hold_id in planned.held
        [skipped] = project.lifecycle.run(now=NOW)
        assert skipped.held and "claim 2026-114" in skipped.held
        assert _ids(project, "staging.pos") == GONE | KEPT
        with pytest.raises(HeldError, match=hold.hold_id):
            project.lifecycle.run(["pos"], now=NOW)
        assert _ids(project, "staging.pos") == GONE | KEPT  # the refusal changed nothing
        project.lifecycle.holds.release(hold.hold_id, "claim settled")
        assert project.lifecycle.holds.list() == []
        [released] = project.lifecycle.holds.list(include_released=True)
        assert released.release_reason == "claim settled" and not released.active
        [done] = project.lifecycle.run(["pos"], now=NOW)
        assert done.rows == 15 and not done.held
        assert _ids(project, "staging.pos") == KEPT
        kinds = [r.entry.kind for r in project.audit.records()]
        assert "hold.add" in kinds and "hold.release" in kinds


def test_a_run_asked_for_a_held_source_exits_1_with_the_hold(tmp_path: Path) -> None:
    root = _shop(tmp_path, POS_STAGING_5D, days=range(1, 2))
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [
            "--project",
            str(root),
            "lifecycle",
            "hold",
            "add",
            "--source",
            "pos",
            "--reason",
            "audit",
            "--format",
            "json",
        ],
    )
    assert added.exit_code == 0, added.output
    hold_id = json.loads(added.output)[0]["hold"]
    result = runner.invoke(cli, ["--project", str(root), "lifecycle", "run", "--source", "pos"])
    assert result.exit_code == 1
    assert f"legal hold {hold_id} on pos" in result.output and "Traceback" not in result.output
    listed = runner.invoke(cli, ["--project", str(root), "lifecycle", "hold", "list"])
    assert hold_id in listed.output


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ("retention:\n  raw: 30x\n", "'30x' is not a duration"),
        ("retention:\n  raw: {keep: 30d, then: shred}\n", "retention.raw.then"),
        ("retention:\n  raw: {keep: 30d, age: arrival}\n", "retention.raw.age"),
        ("retention:\n  sources:\n    poss: {raw: 30d}\n", "did you mean 'pos'?"),
        ("retention:\n  staging: 1d\n", "less than the collector's dedupe_window (7d)"),
        ("retention:\n  snapshot: 30d\n", "did you mean 'snapshots'?"),
    ],
)
def test_bad_retention_fails_at_open_with_the_line(
    tmp_path: Path, retention: str, message: str
) -> None:
    root = _shop(tmp_path, retention, days=range(1, 1))
    with pytest.raises(ProjectError) as failed:
        weir.Project(root)
    assert message in str(failed.value)
    assert "weir.yml:" in str(failed.value)


def test_bad_holds_are_refused(tmp_path: Path) -> None:
    root = _shop(tmp_path, "", days=range(1, 1))
    with weir.Project(root) as project:
        with pytest.raises(UnknownName, match="did you mean 'pos'"):
            project.lifecycle.holds.add("poss", "claim")
        with pytest.raises(QueryError, match="needs a reason"):
            project.lifecycle.holds.add("pos", "  ")
        with pytest.raises(NotFoundError, match="no legal hold h-nothing"):
            project.lifecycle.holds.release("h-nothing")
        hold = project.lifecycle.holds.add("pos", "claim")
        project.lifecycle.holds.release(hold.hold_id)
        with pytest.raises(QueryError, match="already released"):
            project.lifecycle.holds.release(hold.hold_id)
        with pytest.raises(UnknownName):
            project.lifecycle.run(["poss"])


def test_a_schedule_runs_the_lifecycle_step(tmp_path: Path) -> None:
    root = _shop(
        tmp_path,
        POS_STAGING_5D
        + "schedules:\n  - {name: retention_daily, lifecycle: true, cron: '15 3 * * *'}\n",
    )
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        queued = project.runs.trigger("retention_daily")
        assert [s.kind for s in queued.plan] == ["lifecycle"]
        finished = project.orchestrate.worker().run_once()
        assert finished is not None and finished.status == "succeeded", finished
        [step] = finished.steps
        # every sale of 2025 is more than 5 days old today
        assert step.rows == 55
        assert _count(project, "staging.pos") == 0
        lines = [line.message for line in project.runs.logs(finished.run_id)]
        assert any("staging.pos: archive 55" in line for line in lines)


def test_rows_gone_without_retention_are_a_mismatch(tmp_path: Path) -> None:
    """Only what retention recorded counts as expired: a row lost any other way is reported."""
    root = _shop(tmp_path, "", days=range(1, 3))  # day 1: 1 sale; day 2: 2 sales and a bad line
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        with project.lake.writing():
            Maintenance(project.lake).rewrite("raw", "pos", "transaction_id = 'T01-0'")
        [raw] = [c for c in project.sources.reconcile(["pos"]) if c.layer == "raw"]
        assert raw.state == "mismatch"
        assert raw.message.startswith("accepted 3 recorded, 2 in raw;")
    shown = CliRunner().invoke(cli, ["--project", str(root), "status", "--reconcile"])
    assert shown.exit_code == 1 and "1 mismatched" in shown.output


def test_on_postgresql_holds_archive_and_reconcile(
    tmp_path: Path, new_database: NewDatabase
) -> None:
    root = _shop(tmp_path, POS_STAGING_5D + f"catalog_uri: {new_database()}\n", days=range(1, 7))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        hold = project.lifecycle.holds.add("pos", "claim 2026-114")
        [skipped] = project.lifecycle.run(now=NOW)
        assert skipped.held and _count(project, "staging.pos") == 21  # 1 + 2 + … + 6
        project.lifecycle.holds.release(hold.hold_id, "settled")
        [done] = project.lifecycle.run(now=NOW)
        assert done.rows == 15 and _ids(project, "staging.pos") == {f"T06-{i}" for i in range(6)}
        checks = {c.layer: c.state for c in project.sources.reconcile(["pos"])}
        assert checks["staging"] == "partly expired by retention" and checks["raw"] == "ok"
        assert project.audit.verify().ok


@pytest.mark.parametrize("instance", [0, 2], ids=["weir serve's log", "weir collect's 2nd"])
def test_collector_log_segments_the_lake_holds_go_and_the_others_stay(
    tmp_path: Path, instance: int
) -> None:
    """Three sealed segments (two events each) and the open one: the lake holds the first two.

    The same for the log of any collector process (``instance``)."""
    root = _shop(tmp_path, "retention:\n  collector_log: 1d\n", days=range(1, 1))
    folder = wal_folder(root / ".weir", "web_traffic", instance)
    log = WriteAheadLog(folder, fsync=False)
    ends = []
    for segment in range(3):
        log.append([json.dumps(web_event(f"e{segment}-{i}")).encode() for i in range(2)])
        log.seal()
        ends.append(log.end)
    log.close()
    with weir.Project(root) as project:
        stream = log_stream("web_traffic", instance)
        events = [
            (json.dumps(web_event(f"e{s}-{i}")), stream, s * 2 + i) for s in (0, 1) for i in (0, 1)
        ]
        project.sources.ingestor.ingest_events(
            "web_traffic", events_table(events), {stream: str(ends[1])}
        )
        week_ago = time.time() - 7 * 86400
        for _, path in segments(folder):
            os.utime(path, (week_ago, week_ago))
        [planned] = project.lifecycle.plan()
        place = f"{folder.parent.name}/web_traffic"  # wal/web_traffic, wal-2/web_traffic
        assert (planned.dataset, planned.kind, planned.rows) == (place, "log", 2)
        assert "1 older segment(s) not yet in the lake are kept" in planned.note
        [done] = project.lifecycle.run()
        assert done.rows == 2 and done.note.startswith("done")
        # the third sealed segment (not in the lake) and the open one are kept, and read whole
        kept = segments(folder)
        assert [base for base, _ in kept] == [ends[1], ends[2]]
        assert [p for _, p in read_log(folder, ends[1], ends[2])] == [
            json.dumps(web_event(f"e2-{i}")).encode() for i in range(2)
        ]


def test_the_api_plans_and_holds_for_operators(tmp_path: Path) -> None:
    root = _shop(tmp_path, POS_STAGING_5D, days=range(1, 3))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        tokens = project.access.tokens()
        _, admin = tokens.create("ada", "admin")
        _, sales = tokens.create("sam", "sales")
        app = create_app(project)

        def call(method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
            async def send() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
                    headers = {"Authorization": f"Bearer {token}"}
                    return await client.request(method, url, headers=headers, **kwargs)

            return asyncio.run(send())

        assert call("GET", "/api/v1/lifecycle/plan", sales).status_code == 403
        [step] = call("GET", "/api/v1/lifecycle/plan", admin).json()["steps"]
        assert (step["dataset"], step["action"], step["count"]) == ("staging.pos", "archive", 3)
        placed = call(
            "POST", "/api/v1/lifecycle/holds", admin, json={"source": "pos", "reason": "claim"}
        )
        assert placed.status_code == 201 and placed.json()["by"] == "ada"
        hold_id = placed.json()["hold_id"]
        [step] = call("GET", "/api/v1/lifecycle/plan", admin).json()["steps"]
        assert hold_id in step["held_by"]
        missing = call(
            "POST", "/api/v1/lifecycle/holds", admin, json={"source": "poss", "reason": "x"}
        )
        assert missing.status_code == 404 and "did you mean 'pos'" in missing.text
        released = call("POST", f"/api/v1/lifecycle/holds/{hold_id}/release", admin, json={})
        assert released.status_code == 200 and released.json()["released_by"] == "ada"
        again = call("POST", f"/api/v1/lifecycle/holds/{hold_id}/release", admin, json={})
        assert again.status_code == 400 and "already released" in again.text
        assert call("GET", "/api/v1/lifecycle/holds", admin).json()["holds"] == []
        assert len(call("GET", "/api/v1/lifecycle/holds?all=true", admin).json()["holds"]) == 1


def test_an_archive_that_cannot_be_written_destroys_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive folder should be\n")
    root = _shop(tmp_path, POS_STAGING_5D + f"  archive_dir: {blocked}\n", days=range(1, 7))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        with pytest.raises(ArchiveError, match="cannot write the archive") as failed:
            project.lifecycle.run(now=NOW)
        assert "retention.archive_dir" in (failed.value.fix or "")
        assert _count(project, "staging.pos") == 21  # every row is still there
        [waiting] = project.lifecycle.plan(now=NOW)
        assert waiting.note.startswith("finishes the action a run left archiving")
