"""Schedules, runs, the scheduler and workers on the example project (SQLite metadata).

Time is a hand-moved clock; every count below is worked out from the cron lines.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orchestrate_helpers import T_UTC, HandClock, land_stores, open_with_clock, with_schedules

import weir
from weir.errors import NotFoundError, ProjectError, QueryError
from weir.orchestrate import StepOutcome, StepRequest
from weir.orchestrate.scheduler import fires_between

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def clock() -> HandClock:
    return HandClock(T_UTC)


def opened(root: Path, clock: HandClock, schedules: str, tz: str = "UTC") -> weir.Project:
    return open_with_clock(with_schedules(root, schedules, tz), clock)


# -- validation at load ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("block", "where", "says"),
    [
        (
            "schedules:\n  - {name: a, sources: [stores], cron: '61 * * * *'}\n",
            "weir.yml:",
            "is not a cron line",
        ),
        ("schedules:\n  - {name: a, sources: [stores]}\n", "weir.yml:", "neither when (cron)"),
        (
            "schedules:\n  - name: a\n    sources: [stores, storez]\n    cron: '0 6 * * *'\n",
            "weir.yml:",
            "no source named 'storez'",
        ),
        (
            "schedules:\n  - name: a\n    select: [warehouse.dim_stor+]\n    cron: '0 6 * * *'\n",
            "weir.yml:",
            "no model named 'warehouse.dim_stor'",
        ),
    ],
)
def test_a_bad_schedule_fails_at_load_with_file_line_and_fix(
    project_root: Path, block: str, where: str, says: str
) -> None:
    with_schedules(project_root, block)
    with pytest.raises(ProjectError) as caught:
        weir.Project(project_root)
    assert caught.value.what.startswith(where)
    assert says in caught.value.what
    assert caught.value.fix


def test_an_unknown_source_names_its_line_and_the_closest_name(project_root: Path) -> None:
    with_schedules(
        project_root,
        "schedules:\n  - name: a\n    sources: [stores, storez]\n    cron: '0 6 * * *'\n",
    )
    with pytest.raises(ProjectError) as caught:
        weir.Project(project_root)
    line = (
        (project_root / "weir.yml").read_text().splitlines().index("    sources: [stores, storez]")
    )
    assert caught.value.what.startswith(f"weir.yml:{line + 1}: schedules[0].sources[1]")
    assert caught.value.fix == "did you mean 'stores'?"


# -- cron, time zones, catch-up -----------------------------------------------------------------
def test_cron_fires_in_the_project_zone_across_the_spring_change() -> None:
    # Berlin leaves CET (UTC+1) for CEST (UTC+2) at 2026-03-29 01:00 UTC: 06:00 local is
    # 05:00 UTC on the 28th, then 04:00 UTC on the 29th and 30th
    fires = fires_between(
        "0 6 * * *",
        BERLIN,
        datetime(2026, 3, 27, 5, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 5, 0, tzinfo=UTC),
    )
    assert [f.astimezone(UTC).hour for f in fires] == [5, 4, 4]
    assert [f.day for f in fires] == [28, 29, 30]
    assert {f.hour for f in fires} == {6}


def test_a_berlin_schedule_enqueues_each_missed_morning_at_its_utc_time(
    project_root: Path,
) -> None:
    clock = HandClock(datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    with opened(
        project_root,
        clock,
        "schedules:\n  - {name: morning, sources: [stores], cron: '0 6 * * *', catchup: all}\n",
        "Europe/Berlin",
    ) as project:
        scheduler = project.orchestrate.scheduler()
        assert scheduler.tick(clock()) == []  # a new schedule starts from now
        clock.advance(days=3)  # 2026-03-30 12:00 UTC: the 28th, 29th and 30th are due
        queued = scheduler.tick(clock())
        runs = [project.runs.get(i) for i in queued]
        assert [r.scheduled_for for r in runs] == [
            datetime(2026, 3, 28, 5, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 4, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 4, 0, tzinfo=UTC),
        ]
        assert {r.trigger for r in runs} == {"schedule"}


@pytest.mark.parametrize(
    ("catchup", "expected_hours"), [("all", [11, 12, 13, 14, 15]), ("latest", [15])]
)
def test_catchup_after_downtime(
    project_root: Path, clock: HandClock, catchup: str, expected_hours: list[int]
) -> None:
    block = f"schedules:\n  - {{name: hourly, sources: [stores], cron: '0 * * * *', catchup: {catchup}}}\n"
    with opened(project_root, clock, block) as project:
        scheduler = project.orchestrate.scheduler()
        scheduler.tick(clock())  # 10:00:30: the schedule is first seen
        clock.advance(hours=5, minutes=10)  # down until 15:10:30; fires 11:00 … 15:00 missed
        queued = scheduler.tick(clock())
        assert [project.runs.get(i).scheduled_for.hour for i in queued] == expected_hours  # type: ignore[union-attr]
        assert scheduler.tick(clock()) == []  # nothing new until 16:00
        if catchup == "latest":  # the 15:00 fire starts at 15:10:30: 630 s late
            project.orchestrate.worker().run_once()
            assert project.schedules.lag() == {"hourly": 630.0}


def test_two_schedulers_ticking_at_once_enqueue_each_fire_once(
    project_root: Path, clock: HandClock
) -> None:
    block = "schedules:\n  - {name: hourly, sources: [stores], cron: '0 * * * *', catchup: all}\n"
    with_schedules(project_root, block)
    projects = [open_with_clock(project_root, clock) for _ in range(2)]
    try:
        projects[0].orchestrate.scheduler().tick(clock())
        clock.advance(hours=3)  # 13:00:30: 11:00, 12:00, 13:00 are due
        barrier = threading.Barrier(2)
        queued: list[list[int]] = [[], []]

        def tick(i: int) -> None:
            barrier.wait()
            for _ in range(3):
                queued[i] += projects[i].orchestrate.scheduler().tick(clock())

        threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(queued[0]) + len(queued[1]) == 3
        hours = sorted(r.scheduled_for.hour for r in projects[0].runs.list())  # type: ignore[union-attr]
        assert hours == [11, 12, 13]
    finally:
        for p in projects:
            p.close()


def test_two_workers_claim_different_runs(project_root: Path, clock: HandClock) -> None:
    land_stores(project_root)
    projects = [open_with_clock(project_root, clock) for _ in range(2)]
    try:
        first = projects[0].runs.trigger(sources=["stores"])
        second = projects[0].runs.trigger(sources=["stores"])
        workers = [p.orchestrate.worker(name=f"w{i}") for i, p in enumerate(projects)]
        barrier = threading.Barrier(2)
        claimed: list[int | None] = [None, None]

        def claim(i: int) -> None:
            barrier.wait()
            claimed[i] = workers[i].store.claim(f"w{i}", clock(), 60, {})

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(c for c in claimed if c is not None) == [first.run_id, second.run_id]
        assert {
            projects[0].runs.get(first.run_id).worker,
            projects[0].runs.get(second.run_id).worker,
        } == {"w0", "w1"}
        assert workers[0].store.claim("w2", clock(), 60, {}) is None
    finally:
        for p in projects:
            p.close()


# -- runs: retries, timeout, cancel, re-run ------------------------------------------------------
def test_a_failing_run_is_retried_with_doubling_backoff(
    project_root: Path, clock: HandClock
) -> None:
    # the model reads staging.stores, which nothing has ingested: each attempt fails
    block = (
        "schedules:\n  - name: models\n    select: [warehouse.dim_store]\n"
        "    cron: '0 * * * *'\n    retries: {count: 2, backoff: 30s}\n"
    )
    with opened(project_root, clock, block) as project:
        first = project.runs.trigger("models")
        worker = project.orchestrate.worker()
        done = worker.run_once()
        assert done is not None and done.status == "failed" and done.attempt == 1
        [retry] = project.runs.list(status="queued")
        assert (retry.attempt, retry.parent_run, retry.max_attempts) == (2, first.run_id, 3)
        assert retry.not_before == T_UTC + timedelta(seconds=30)
        clock.advance(seconds=29)
        assert worker.run_once() is None  # not due for another second
        clock.advance(seconds=1)
        second = worker.run_once()
        assert second is not None and (second.run_id, second.status) == (retry.run_id, "failed")
        [third] = project.runs.list(status="queued")
        assert third.attempt == 3 and third.not_before == clock() + timedelta(seconds=60)
        clock.advance(seconds=60)
        last = worker.run_once()
        assert last is not None and last.status == "failed"
        assert project.runs.list(status="queued") == []  # 1 + 2 retries: no fourth attempt
        assert "models failed: warehouse.dim_store" in (last.error or "")


def test_a_run_past_its_timeout_stops_before_its_next_step(
    project_root: Path, clock: HandClock
) -> None:
    land_stores(project_root)
    block = (
        "schedules:\n  - name: slow\n    sources: [stores]\n    select: [warehouse.dim_store]\n"
        "    cron: '0 6 * * *'\n    timeout: 30m\n"
    )
    with opened(project_root, clock, block) as project:
        ingest = project.orchestrate.handlers["ingest"]

        def slow_ingest(step: StepRequest) -> StepOutcome:
            outcome = ingest(step)
            clock.advance(minutes=31)  # the ingest took 31 minutes
            return outcome

        project.orchestrate.handlers["ingest"] = slow_ingest
        project.runs.trigger("slow")
        done = project.orchestrate.worker().run_once()
        assert done is not None and done.status == "failed"
        assert done.error == "timed out after 1800 s"
        assert [s.status for s in done.steps] == ["succeeded", "skipped"]
        assert done.steps[0].rows == 1


def test_cancel_a_queued_run_and_a_running_one(project_root: Path, clock: HandClock) -> None:
    land_stores(project_root)
    with opened(project_root, clock, "") as project:
        queued = project.runs.trigger(sources=["stores"])
        assert project.runs.cancel(queued.run_id).status == "cancelled"
        with pytest.raises(QueryError, match="already cancelled"):
            project.runs.cancel(queued.run_id)

        ingest = project.orchestrate.handlers["ingest"]

        def ingest_then_cancel(step: StepRequest) -> StepOutcome:
            project.runs.cancel(step.run_id)  # someone cancels while the ingest runs
            return ingest(step)

        project.orchestrate.handlers["ingest"] = ingest_then_cancel
        running = project.runs.trigger(sources=["stores"], select=["warehouse.dim_store"])
        done = project.orchestrate.worker().run_once()
        assert done is not None and done.run_id == running.run_id
        assert done.status == "cancelled"
        assert [s.status for s in done.steps] == ["succeeded", "skipped"]
        assert any("cancel asked by" in line.message for line in project.runs.logs(done.run_id))


def test_rerun_failed_only_runs_only_the_step_that_failed(
    project_root: Path, clock: HandClock
) -> None:
    land_stores(project_root)
    block = (
        "schedules:\n  - name: nightly\n    sources: [stores]\n    select: [warehouse.dim_store]\n"
        "    quality: true\n    cron: '0 2 * * *'\n"
    )
    with opened(project_root, clock, block) as project:

        def broken(_step: StepRequest) -> StepOutcome:
            raise OSError("the quality checks could not read the lake")

        project.orchestrate.handlers["quality"] = broken
        project.runs.trigger("nightly")
        worker = project.orchestrate.worker()
        first = worker.run_once()
        assert first is not None and first.status == "failed"
        assert [s.status for s in first.steps] == ["succeeded", "succeeded", "failed"]
        assert "could not read the lake" in (first.steps[2].error or "")

        seen: list[str] = []
        project.orchestrate.handlers["quality"] = lambda step: (
            seen.append(step.target) or StepOutcome(0, "all checks passed")
        )
        again = project.runs.rerun(first.run_id, failed_only=True)
        assert (again.trigger, again.parent_run) == ("rerun", first.run_id)
        assert [(s.kind, s.target) for s in again.steps] == [("quality", "nightly")]
        done = worker.run_once()
        assert done is not None and done.status == "succeeded" and seen == ["nightly"]
        with pytest.raises(QueryError, match="every step"):
            project.runs.rerun(done.run_id, failed_only=True)


def test_finished_runs_reach_the_hooks(project_root: Path, clock: HandClock) -> None:
    land_stores(project_root)
    with opened(project_root, clock, "") as project:
        finished: list[tuple[int, str]] = []
        project.orchestrate.hooks.append(lambda run: finished.append((run.run_id, run.status)))
        run = project.runs.trigger(sources=["stores"])
        project.orchestrate.worker().run_once()
        assert finished == [(run.run_id, "succeeded")]


def test_backfill_rebuilds_the_window(project_root: Path, clock: HandClock) -> None:
    with opened(project_root, clock, "") as project:
        run = project.runs.backfill(
            ["warehouse.fact_sales_lines"],
            datetime(2026, 1, 1).date(),
            datetime(2026, 1, 8).date(),
        )
        assert run.trigger == "backfill"
        [step] = run.plan
        assert step.args == {
            "select": ["warehouse.fact_sales_lines"],
            "start": "2026-01-01",
            "end": "2026-01-08",
        }
        with pytest.raises(QueryError, match="empty"):
            project.runs.backfill(
                ["warehouse.fact_sales_lines"],
                datetime(2026, 1, 8).date(),
                datetime(2026, 1, 8).date(),
            )
        with pytest.raises(NotFoundError):
            project.runs.get(999)


# -- schedules: overrides, pause, after: ---------------------------------------------------------
def test_a_cron_override_is_used_audited_and_reset(project_root: Path, clock: HandClock) -> None:
    block = "schedules:\n  - {name: nightly, sources: [stores], cron: '0 2 * * *', catchup: all}\n"
    with opened(project_root, clock, block) as project:
        scheduler = project.orchestrate.scheduler()
        scheduler.tick(clock())  # 10:00:30
        state = project.schedules.set("nightly", "0 12 * * *", by="ada")
        assert (state.file_cron, state.override_cron, state.cron) == (
            "0 2 * * *",
            "0 12 * * *",
            "0 12 * * *",
        )
        assert state.next_fire == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        clock.advance(hours=3)  # 13:00:30: 12:00 is due under the override, 02:00 is not
        [run_id] = scheduler.tick(clock())
        assert project.runs.get(run_id).scheduled_for == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        reset = project.schedules.reset("nightly", by="ada")
        assert (reset.override_cron, reset.cron) == (None, "0 2 * * *")
        records = [r for r in project.audit.records() if r.entry.kind == "schedule.change"]
        actions = sorted(r.entry.action for r in records)
        assert actions == ["reset nightly", "set nightly cron '0 12 * * *'"]
        assert {r.entry.user for r in records} == {"ada"}
        [set_record] = [r for r in records if r.entry.action.startswith("set")]
        assert set_record.entry.detail == {
            "schedule": "nightly",
            "before": {"cron": "0 2 * * *", "override": None, "paused": False},
            "after": {"cron": "0 12 * * *", "override": "0 12 * * *", "paused": False},
        }
        assert project.audit.verify().ok
        with pytest.raises(QueryError, match="not a cron line"):
            project.schedules.set("nightly", "every day")


def test_a_paused_schedule_does_not_fire(project_root: Path, clock: HandClock) -> None:
    block = "schedules:\n  - {name: hourly, sources: [stores], cron: '0 * * * *'}\n"
    with opened(project_root, clock, block) as project:
        scheduler = project.orchestrate.scheduler()
        scheduler.tick(clock())
        assert project.schedules.pause("hourly").paused
        assert project.schedules.get("hourly").next_fire is None
        clock.advance(hours=2)
        assert scheduler.tick(clock()) == []
        project.schedules.resume("hourly")
        assert len(scheduler.tick(clock())) == 1  # latest: the 12:00 fire


def test_after_starts_a_run_when_a_batch_of_its_source_commits(
    project_root: Path, clock: HandClock
) -> None:
    block = (
        "schedules:\n  - {name: stores_models, select: [warehouse.dim_store], after: [stores]}\n"
    )
    with opened(project_root, clock, block) as project:
        scheduler = project.orchestrate.scheduler()
        assert scheduler.tick(clock()) == []
        land_stores(project_root)
        [batch] = project.sources.ingest(["stores"])
        assert batch.batch_id is not None
        [run_id] = scheduler.tick(clock())
        run = project.runs.get(run_id)
        assert (run.trigger, run.triggered_by) == ("input", f"batch {batch.batch_id}")
        assert scheduler.tick(clock()) == []  # that batch starts it once
        project.sources.ingest(["stores"])  # nothing new: no batch, no run
        assert scheduler.tick(clock()) == []
        land_stores(project_root, "stores_2026-03-02.csv")
        project.sources.ingest(["stores"])  # a second batch while the run still waits
        assert scheduler.tick(clock()) == []  # the queued run will read it: no second run
        done = project.orchestrate.worker().run_once()
        assert done is not None and done.status == "succeeded"
        assert done.steps[0].rows == 1  # the one store
        land_stores(project_root, "stores_2026-03-03.csv")
        project.sources.ingest(["stores"])
        assert len(scheduler.tick(clock())) == 1  # nothing waits now: a new run


def test_since_takes_a_day_or_a_duration(project_root: Path, clock: HandClock) -> None:
    with opened(project_root, clock, "") as project:
        project.runs.trigger(sources=["stores"])
        clock.advance(hours=30)
        project.runs.trigger(sources=["stores"])
        assert len(project.runs.list(since="24h")) == 1
        assert len(project.runs.list(since="2026-03-02")) == 2
        for wrong in ("yesterday", "2026-13-45", "99999999999999w"):
            with pytest.raises(QueryError, match="neither a day nor a duration"):
                project.runs.list(since=wrong)


@pytest.fixture
def example(project_root: Path) -> Iterator[weir.Project]:
    with weir.Project(project_root) as project:
        yield project


def test_the_example_ships_its_schedules(example: weir.Project) -> None:
    states = {s.name: s for s in example.schedules.list()}
    assert set(states) == {
        "pos_daily",
        "inventory_hourly",
        "sales_models",
        "web_models",
        "nightly",
        "retention_daily",
    }
    retention = next(s for s in example.files.config.schedules if s.name == "retention_daily")
    assert retention.lifecycle and retention.cron == "15 3 * * *"
    assert states["sales_models"].after == ("pos", "inventory")
    nightly = next(s for s in example.files.config.schedules if s.name == "nightly")
    assert nightly.quality and nightly.select == []


def test_concurrency_bounds_the_runs_of_a_schedule_at_once(
    project_root: Path, clock: HandClock
) -> None:
    block = "schedules:\n  - {name: hourly, sources: [stores], cron: '0 * * * *', concurrency: 2}\n"
    with opened(project_root, clock, block) as project:
        ids = [project.runs.trigger("hourly").run_id for _ in range(3)]
        store = project.orchestrate.store
        limits = project.orchestrate.limits()
        assert limits == {"hourly": 2}
        assert [store.claim("w", clock(), 60, limits) for _ in range(3)] == [*ids[:2], None]
        assert store.claim("w", clock(), 60, {"hourly": 3}) == ids[2]


def test_the_orchestrator_service_executes_what_is_queued(project_root: Path) -> None:
    land_stores(project_root)
    with weir.Project(with_schedules(project_root, "")) as project:
        service = project.orchestrate.service(poll_seconds=0.05)
        assert service.name == "orchestrate"
        run = project.runs.trigger(sources=["stores"])
        service.start()
        try:
            waited = 0
            while project.runs.get(run.run_id).status in ("queued", "running") and waited < 1200:
                threading.Event().wait(0.05)  # the service works in its own thread
                waited += 1
        finally:
            service.stop()
        assert project.runs.get(run.run_id).status == "succeeded"


SLOW_MODEL = """/*
kind: full
description: A count that takes minutes, to be stopped
*/
SELECT count(*) AS n FROM range(1000000000000) t(i) WHERE i % 7 = 3
"""


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_interrupt_the_query_a_step_is_running(
    project_root: Path, clock: HandClock, how: str
) -> None:
    (project_root / "models" / "warehouse" / "slow.sql").write_text(SLOW_MODEL, encoding="utf-8")
    block = (
        "schedules:\n  - name: slow\n    select: [warehouse.slow]\n    cron: '0 6 * * *'\n"
        "    timeout: 30m\n"
    )
    with opened(project_root, clock, block) as project:
        run = project.runs.trigger("slow")
        worker = project.orchestrate.worker(lease_seconds=0.3)  # a heartbeat every 0.1 s
        finished: list[weir.orchestrate.Run | None] = []
        thread = threading.Thread(target=lambda: finished.append(worker.run_once()))
        thread.start()
        waited = 0
        while project.runs.get(run.run_id).steps[0].status != "running" and waited < 2400:
            threading.Event().wait(0.05)
            waited += 1
        if how == "cancel":
            project.runs.cancel(run.run_id)
        else:
            clock.advance(minutes=31)
        thread.join(120)
        assert not thread.is_alive(), "the query was not interrupted"
        [done] = finished
        assert done is not None
        assert (done.status, done.steps[0].status) == (
            ("cancelled", "cancelled") if how == "cancel" else ("failed", "cancelled")
        )
        why = "cancelled while it ran" if how == "cancel" else "timed out after 1800 s"
        assert (done.error or "").startswith(why)
        assert "interrupt" in (done.steps[0].error or "").lower()
        assert "stopping the running step" in [x.message for x in project.runs.logs(run.run_id)]
