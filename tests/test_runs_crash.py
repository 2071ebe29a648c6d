"""A worker killed with SIGKILL mid-run: the lake stays consistent and the run history honest.

A worker process claims a scheduled run (ingest three sources, build two models)
and is killed at a random moment of its ingest step, of its models step, and of
one of them again. A restarted worker (here, in the test process with its clock
past the dead worker's lease) finds the run ``abandoned``, runs its retry to
``succeeded``, and the lake then holds exactly what one uninterrupted run leaves:
every batch once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from orchestrate_helpers import SOURCES, HandClock, lake_counts, ledger, open_with_clock, shop

import weir

WORKER = """
import sys, time
import weir
with weir.Project(sys.argv[1]) as project:
    worker = project.orchestrate.worker(name="doomed", lease_seconds=60)
    while worker.run_once() is None:
        time.sleep(0.02)
"""


@pytest.fixture(scope="module")
def expected(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """What one uninterrupted run of the schedule leaves."""
    root = shop(tmp_path_factory.mktemp("reference") / "shop")
    with weir.Project(root) as project:
        project.runs.trigger("nightly")
        run = project.orchestrate.worker().run_once()
        assert run is not None and run.status == "succeeded", run
        return lake_counts(project), ledger(project)[0]


def test_a_worker_killed_mid_run_leaves_the_lake_whole_and_the_history_honest(
    tmp_path: Path, expected: tuple[dict[str, int], list[tuple[str, int]]]
) -> None:
    counts, batches = expected
    assert counts["staging.pos"] > 0 and batches == [("pos", 14), ("products", 3), ("stores", 1)]
    rng = random.Random(20261207)
    killed_mid_run = 0
    killed_in: set[str] = set()
    # kill once in each step, then once more in a step drawn at random
    for attempt, step in enumerate([0, 1, rng.choice([0, 1])]):
        root = shop(tmp_path / f"shop{attempt}")
        with weir.Project(root) as project:
            run_id = project.runs.trigger("nightly").run_id
        script = tmp_path / "worker.py"
        script.write_text(WORKER, encoding="utf-8")
        child = subprocess.Popen([sys.executable, str(script), str(root)])
        try:
            with weir.Project(root) as watcher:
                deadline = time.monotonic() + 120
                while (now := watcher.runs.get(run_id)).steps[step].status == "pending" and (
                    not now.finished
                ):
                    assert time.monotonic() < deadline, "the worker never reached the step"
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.2))  # somewhere in that step
                child.send_signal(signal.SIGKILL)
                child.wait(30)
                was = watcher.runs.get(run_id)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if was.status != "running":
            assert was.status == "succeeded"  # it finished before the kill: nothing to recover
            continue
        killed_mid_run += 1
        killed_in.add(next(st.kind for st in was.steps if st.status == "running"))
        # the restarted worker's clock is past the dead worker's 60 s lease
        clock = HandClock(datetime.now(UTC) + timedelta(seconds=61))
        with open_with_clock(root, clock) as project:
            project.orchestrate.scheduler().tick(clock())
            killed = project.runs.get(run_id)
            assert killed.status == "abandoned"
            assert {s.status for s in killed.steps} <= {"succeeded", "failed", "skipped"}
            [retry] = project.runs.list(status="queued")
            assert (retry.parent_run, retry.attempt) == (run_id, 2)
            clock.advance(seconds=30)  # the retry's backoff
            done = project.orchestrate.worker(name="restarted").run_once()
            assert done is not None and done.run_id == retry.run_id
            assert done.status == "succeeded", done.error
            assert lake_counts(project) == counts
            got, twice = ledger(project)
            assert twice == 0
            # each source's files were committed once, in one batch or across the two attempts
            files = {s: sum(f for src, f in got if src == s) for s in SOURCES}
            assert files == {s: f for s, f in batches}
            with project.store.begin() as db:
                pending = db.execute(
                    sa.text("SELECT count(*) FROM weir_batches WHERE status = 'pending'")
                ).scalar_one()
            assert pending == 0
            statuses = [(r.run_id, r.status, r.attempt) for r in reversed(project.runs.list())]
            assert statuses == [(run_id, "abandoned", 1), (retry.run_id, "succeeded", 2)]
    assert killed_mid_run >= 2 and killed_in == {"ingest", "models"}
