"""Several `weir worker` processes on one PostgreSQL catalog, standing in for several hosts.

The workers share what hosts share: the catalog and metadata database on
PostgreSQL and the project folder with its lake (on hosts, a shared mount at
the same path). The lake's write lock is then the database's advisory lock,
which every worker sees, not the lock file (a file lock is not to be trusted
across hosts). Runs are queued, each is claimed by one worker and executed
once; a worker killed with SIGKILL in the middle of a batch loses its lease and
its lock, another worker rolls the half-written batch back and runs the retry,
and the lake ends as one uninterrupted run leaves it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from conftest import NewDatabase
from orchestrate_helpers import SOURCES, lake_counts, ledger, shop

import weir
from weir.engine import DuckDBEngine
from weir.errors import LockedError, WeirError
from weir.lake import Lake
from weir.lake.lock import FileLock, ServerLock
from weir.orchestrate.records import Run

try:
    import psycopg  # noqa: F401  (the PostgreSQL driver the catalog needs)
except ImportError as exc:
    from conftest import require_server

    require_server("psycopg", f"the PostgreSQL tests need the postgres extra (psycopg 3): {exc}")

LEASE = "3"  # seconds: a killed worker's run is abandoned this long after its last heartbeat
# concurrency 3: the three workers may each run one of the schedule's runs at once
SCHEDULES = (
    "schedules:\n  - name: nightly\n    sources: [stores, products, pos]\n"
    "    select: [warehouse.dim_store, warehouse.dim_product]\n"
    "    cron: '0 2 * * *'\n    concurrency: 3\n    retries: {count: 2, backoff: 1s}\n"
)
Expected = tuple[dict[str, int], list[tuple[str, int]]]


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> Expected:
    """What one uninterrupted run of the schedule leaves (one worker, the project's own SQLite)."""
    root = shop(tmp_path_factory.mktemp("reference") / "shop", SCHEDULES)
    with weir.Project(root) as project:
        project.runs.trigger("nightly")
        run = project.orchestrate.worker().run_once()
        assert run is not None and run.status == "succeeded", run
        return lake_counts(project), ledger(project)[0]


def on_postgres(folder: Path, catalog: str, lake: str | None = None) -> Path:
    """The project, its catalog and metadata on PostgreSQL, opened once (tables and keys made);
    with ``lake``, its tables on that object store."""
    root = shop(folder / "shop", SCHEDULES)
    config = root / "weir.yml"
    where = f"lake: {lake}\n" if lake else ""
    config.write_text(config.read_text("utf-8") + f"\ncatalog_uri: {catalog}\n{where}", "utf-8")
    with weir.Project(root) as project:
        assert isinstance(project.lake.lock, ServerLock)
    return root


class Workers:
    """``count`` ``weir worker`` processes, started and ready to claim."""

    def __init__(self, root: Path, count: int) -> None:
        self.processes: dict[int, subprocess.Popen[str]] = {}
        for _ in range(count):
            child = subprocess.Popen(
                [sys.executable, "-m", "weir", "worker", "--poll", "0.2", "--lease", LEASE],
                cwd=root,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "COLUMNS": "200"},
            )
            self.processes[child.pid] = child
        for child in self.processes.values():  # each says so once its project is open
            assert child.stdout is not None
            line = child.stdout.readline()
            assert "weir worker for" in line, f"a worker did not start: {line!r}"

    def kill(self, worker: str) -> None:
        """SIGKILL the worker named ``host:pid``."""
        child = self.processes[int(worker.rsplit(":", 1)[1])]
        child.send_signal(signal.SIGKILL)
        child.wait(30)

    def stop(self) -> None:
        for child in self.processes.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.processes.values():
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@pytest.fixture
def workers() -> Iterator[list[Workers]]:
    started: list[Workers] = []
    yield started
    for group in started:
        group.stop()


def settled(project: weir.Project, count: int, deadline: float = 240.0) -> list[Run]:
    """The project's runs once ``count`` of them succeeded and none is queued or running."""
    until = time.monotonic() + deadline
    while True:
        runs = project.runs.list()
        done = [r for r in runs if r.status == "succeeded"]
        if len(done) >= count and all(r.finished for r in runs):
            return runs
        assert time.monotonic() < until, [(r.run_id, r.status, r.error) for r in runs]
        time.sleep(0.2)


def assert_lake_as_one_clean_run(project: weir.Project, expected: Expected) -> None:
    counts, batches = expected
    assert lake_counts(project) == counts
    got, twice = ledger(project)
    assert twice == 0  # no file taken in twice
    files = {s: sum(f for src, f in got if src == s) for s in SOURCES}
    assert files == {s: f for s, f in batches}  # each source's files, committed once in all
    with project.store.begin() as db:
        pending = db.execute(
            sa.text("SELECT count(*) FROM weir_batches WHERE status = 'pending'")
        ).scalar_one()
    assert pending == 0


def executions(project: weir.Project, run: Run) -> tuple[list[str], list[str]]:
    """Who started the run (the 'attempt … on WORKER' lines) and the steps it started."""
    lines = [line.message for line in project.runs.logs(run.run_id)]
    return (
        [m.rsplit(" on ", 1)[1] for m in lines if m.startswith("attempt ")],
        [m for m in lines if m.startswith("step ") and ":" in m and "failed" not in m],
    )


def test_the_lake_lock_is_the_catalog_servers_and_a_killed_holder_frees_it(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    """Two lakes on one catalog with lock files apart (two hosts) exclude each other."""
    catalog = new_database()
    engine = DuckDBEngine()
    here = Lake(catalog, tmp_path / "a" / "lake", engine, tmp_path / "a" / "write.lock")
    there = Lake(catalog, tmp_path / "b" / "lake", engine, tmp_path / "b" / "write.lock")
    assert isinstance(here.lock, ServerLock) and isinstance(there.lock, ServerLock)
    assert isinstance(Lake("sqlite://", tmp_path / "c" / "lake", engine).lock, FileLock)
    try:
        assert here.tables() == []
        there.ensure("raw", "events", pa.schema([("n", pa.int64())]))
        # a commit on another host moves no change signal here: the reader asks the catalog
        assert here.tables() == [("raw", "events")]
        with here.writing():
            here.lock.check()  # held: no complaint
            with (
                pytest.raises(LockedError, match=r"being written by weir .+:\d+"),
                there.writing(wait=0.2),
            ):
                pass
        with there.writing():  # let go by the first: free
            pass
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time, weir.engine\nfrom weir.lake import Lake\n"
                "lake = Lake(sys.argv[1], __import__('pathlib').Path(sys.argv[2]),"
                " weir.engine.DuckDBEngine())\n"
                "with lake.writing():\n    print('held', flush=True)\n    time.sleep(600)\n",
                catalog,
                str(tmp_path / "d" / "lake"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            with pytest.raises(LockedError, match=f":{holder.pid}"), here.writing():
                pass
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)
            with here.writing(wait=30.0):  # the server let it go with the dead connection
                pass
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        away = Lake("postgresql+psycopg://postgres@127.0.0.1:1/weir", tmp_path / "e", engine)
        with (
            pytest.raises(WeirError, match=r"write lock: the advisory lock in .+ is out of reach"),
            away.writing(),
        ):
            pass
    finally:
        here.close()
        there.close()


def test_three_workers_run_each_queued_run_once(
    new_database: NewDatabase, tmp_path: Path, expected: Expected, workers: list[Workers]
) -> None:
    root = on_postgres(tmp_path, new_database())
    workers.append(Workers(root, 3))
    with weir.Project(root) as project:
        queued = [project.runs.trigger("nightly").run_id for _ in range(4)]
        runs = settled(project, len(queued))
        assert sorted(r.run_id for r in runs) == queued  # no retry was needed
        assert {r.status for r in runs} == {"succeeded"}
        for run in runs:
            started, steps = executions(project, run)
            assert started == [run.worker]  # claimed once, by the worker that finished it
            assert len(steps) == len(run.plan) == 2  # each step started once
        # three workers polling five times a second: the second and third runs are claimed
        # while the first runs (it cannot finish in the 0.2 s between two polls)
        assert len({r.worker for r in runs}) >= 2
        assert_lake_as_one_clean_run(project, expected)
    # the workers took turns on the database's lock: no one so much as made the lock file
    assert not (root / ".weir" / "write.lock").exists()


def test_three_workers_share_one_catalog_and_one_bucket(
    new_database: NewDatabase, tmp_path: Path, expected: Expected, workers: list[Workers], s3: Any
) -> None:
    """The whole scale-out shape: workers, a PostgreSQL catalog and the lake on an S3 server."""
    root = on_postgres(tmp_path, new_database(), s3.location("workers"))
    workers.append(Workers(root, 3))
    with weir.Project(root) as project:
        queued = [project.runs.trigger("nightly").run_id for _ in range(3)]
        runs = settled(project, len(queued))
        assert {r.status for r in runs} == {"succeeded"}
        for run in runs:
            started, steps = executions(project, run)
            assert started == [run.worker] and len(steps) == len(run.plan)
        assert_lake_as_one_clean_run(project, expected)
        assert project.lake.storage.describe().startswith("s3://")
    assert not list((root / ".weir").rglob("*.parquet"))  # every data file is in the bucket


def test_a_worker_killed_mid_batch_its_run_completes_on_another(
    new_database: NewDatabase, tmp_path: Path, expected: Expected, workers: list[Workers]
) -> None:
    root = on_postgres(tmp_path, new_database())
    group = Workers(root, 3)
    workers.append(group)
    with weir.Project(root) as project:
        run_id = project.runs.trigger("nightly").run_id
        # the kill lands while the run's pos batch (14 files) is written: pending in the ledger
        until = time.monotonic() + 120
        while True:
            with project.store.begin() as db:
                batch = db.execute(
                    sa.text(
                        "SELECT batch_id FROM weir_batches WHERE status = 'pending'"
                        " AND source = 'pos'"
                    )
                ).scalar()
            if batch is not None:
                break
            assert time.monotonic() < until, "the pos batch never started"
            time.sleep(0.005)
        doomed = project.runs.get(run_id).worker
        assert doomed is not None
        group.kill(doomed)
        runs = settled(project, 1)
        killed, retry = sorted(runs, key=lambda r: r.run_id)
        assert (killed.run_id, killed.status) == (run_id, "abandoned")
        assert (retry.parent_run, retry.attempt, retry.status) == (run_id, 2, "succeeded")
        assert retry.worker not in (None, doomed)
        with project.store.begin() as db:
            status = db.execute(
                sa.text("SELECT status FROM weir_batches WHERE batch_id = :b"), {"b": batch}
            ).scalar_one()
        assert status == "aborted"  # the half-written batch was rolled back, then done again
        assert_lake_as_one_clean_run(project, expected)
