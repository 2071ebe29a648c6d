"""Orchestration on a real PostgreSQL metadata database: one fire, one claim, across processes' connections.

Each test gets a fresh database on the server (``WEIR_TEST_POSTGRES``, by default the
local one), dropped at the end. Without a server the tests fail under CI and skip elsewhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from conftest import NewDatabase
from orchestrate_helpers import T_UTC, HandClock, land_stores, open_with_clock, with_schedules

import weir
from weir.orchestrate.records import StepOutcome, StepRequest


def on_postgres(root: Path, url: str) -> Path:
    config = root / "weir.yml"
    config.write_text(config.read_text(encoding="utf-8") + f"\ncatalog_uri: {url}\n", "utf-8")
    return root


def together(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def go(i: int) -> None:
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_schedulers_enqueue_once_and_workers_claim_apart_on_postgres(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    root = on_postgres(weir.init_project(tmp_path / "shop"), new_database())
    with_schedules(
        root,
        "schedules:\n  - {name: hourly, sources: [stores], cron: '0 * * * *', catchup: all,"
        " concurrency: 4}\n",
    )
    land_stores(root)
    clock = HandClock(T_UTC)
    projects = [open_with_clock(root, clock) for _ in range(3)]
    try:
        projects[0].orchestrate.scheduler().tick(clock())  # 10:00:30: first seen
        clock.advance(hours=4)  # 14:00:30: 11:00, 12:00, 13:00, 14:00 are due
        queued: list[list[int]] = [[], [], []]

        def tick(i: int) -> None:
            for _ in range(3):
                queued[i] += projects[i].orchestrate.scheduler().tick(clock())

        together(3, tick)
        assert sum(len(q) for q in queued) == 4
        runs = projects[0].runs.list()
        assert sorted(r.scheduled_for.hour for r in runs) == [11, 12, 13, 14]  # type: ignore[union-attr]

        claimed: list[list[int]] = [[], [], []]

        def claim(i: int) -> None:
            store = projects[i].orchestrate.store
            while (run_id := store.claim(f"w{i}", clock(), 60, {"hourly": 4})) is not None:
                claimed[i].append(run_id)

        together(3, claim)
        everything = sorted(run_id for c in claimed for run_id in c)
        assert everything == sorted(r.run_id for r in runs)  # each claimed, none twice
        assert {r.status for r in projects[0].runs.list()} == {"running"}
    finally:
        for p in projects:
            p.close()


def test_a_run_executes_and_retries_on_postgres(new_database: NewDatabase, tmp_path: Path) -> None:
    root = on_postgres(weir.init_project(tmp_path / "shop"), new_database())
    with_schedules(
        root,
        "schedules:\n  - name: nightly\n    sources: [stores]\n    quality: true\n"
        "    cron: '0 2 * * *'\n    retries: {count: 1, backoff: 30s}\n",
    )
    land_stores(root)
    clock = HandClock(T_UTC)
    with open_with_clock(root, clock) as project:
        quality = project.orchestrate.handlers["quality"]
        failures = iter([OSError("the quality checks could not read the lake")])

        def fails_once(step: StepRequest) -> StepOutcome:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return quality(step)

        project.orchestrate.handlers["quality"] = fails_once
        project.runs.trigger("nightly")
        worker = project.orchestrate.worker()
        first = worker.run_once()
        assert first is not None and first.status == "failed"
        assert [s.status for s in first.steps] == ["succeeded", "failed"]
        clock.advance(seconds=30)
        second = worker.run_once()
        assert second is not None and (second.attempt, second.parent_run) == (2, first.run_id)
        assert second.steps[0].rows == 0  # the store came in once, in the first attempt
        assert second.status == "succeeded"


def test_concurrency_holds_across_claimers_on_postgres(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    root = on_postgres(weir.init_project(tmp_path / "shop"), new_database())
    with_schedules(root, "schedules:\n  - {name: one, sources: [stores], cron: '0 * * * *'}\n")
    clock = HandClock(T_UTC)
    projects = [open_with_clock(root, clock) for _ in range(4)]
    try:
        for _ in range(4):
            projects[0].runs.trigger("one")
        claimed: list[int | None] = [None] * 4

        def claim(i: int) -> None:
            claimed[i] = projects[i].orchestrate.store.claim(f"w{i}", clock(), 60, {"one": 1})

        together(4, claim)
        assert len([c for c in claimed if c is not None]) == 1  # concurrency: 1
        assert [r.status for r in projects[0].runs.list()].count("running") == 1
    finally:
        for p in projects:
            p.close()
