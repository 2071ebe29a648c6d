"""Runs, steps, log lines and schedule states in the metadata database.

Every write that must not happen twice is made atomic by the database, not by
this process: a fire is one row because ``fire_key`` is unique; a queued run
is claimed by one worker because the claim is a conditional update inside a
locking transaction (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE SKIP LOCKED``
on PostgreSQL); a lapsed lease is turned ``abandoned`` by one ticker because
that too is a conditional update.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weir.metadata import MetadataStore
from weir.orchestrate.records import (
    LogLine,
    PlannedStep,
    Run,
    RunStatus,
    Step,
    StepStatus,
    Trigger,
    at,
)

_CANDIDATES = 50  # queued runs looked at per claim


@dataclass(frozen=True)
class NewRun:
    """A run to enqueue."""

    trigger: Trigger
    plan: Sequence[PlannedStep]
    queued_at: datetime
    schedule: str | None = None
    triggered_by: str | None = None
    parent_run: int | None = None
    attempt: int = 1
    max_attempts: int = 1
    backoff_seconds: float = 0.0
    timeout_seconds: float | None = None
    scheduled_for: datetime | None = None
    fire_key: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True)
class Lease:
    """What a worker learns when it renews its lease."""

    held: bool  # False: the run is no longer this worker's (abandoned by a ticker)
    cancel: bool  # a cancel was asked for


@dataclass(frozen=True)
class StoredState:
    schedule: str
    paused: bool
    cron_override: str | None
    last_fire: float | None
    input_mark: float | None
    updated_at: float | None
    updated_by: str | None


class RunStore:
    """Reads and writes the orchestration tables."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.dialect = store.engine.dialect.name

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A transaction that holds the write lock from its first statement (SQLite)."""
        with self.store.engine.connect() as db:
            if self.dialect == "sqlite":
                db.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    # -- enqueueing -------------------------------------------------------------------
    def enqueue(self, run: NewRun) -> int | None:
        """The new run's id; None when its ``fire_key`` was enqueued already."""
        for _ in range(20):  # two PostgreSQL writers may pick the same next id: try again
            try:
                with self.writing() as db:
                    if (
                        run.fire_key is not None
                        and db.execute(
                            sa.text("SELECT 1 FROM weir_orchestrated_runs WHERE fire_key = :k"),
                            {"k": run.fire_key},
                        ).first()
                    ):
                        return None
                    run_id = int(
                        db.execute(
                            sa.text(
                                "SELECT COALESCE(MAX(run_id), 0) + 1 FROM weir_orchestrated_runs"
                            )
                        ).scalar_one()
                    )
                    self._insert(db, run_id, run)
                    return run_id
            except sa.exc.IntegrityError:
                if run.fire_key is not None and self._fired(run.fire_key):
                    return None
        raise RuntimeError("could not allocate a run id after 20 attempts")

    def _fired(self, fire_key: str) -> bool:
        with self.store.begin() as db:
            found = db.execute(
                sa.text("SELECT 1 FROM weir_orchestrated_runs WHERE fire_key = :k"), {"k": fire_key}
            ).first()
        return found is not None

    def _insert(self, db: Connection, run_id: int, run: NewRun) -> None:
        queued = run.queued_at.timestamp()
        db.execute(
            sa.text(
                "INSERT INTO weir_orchestrated_runs (run_id, schedule, trigger_kind, triggered_by, parent_run,"
                " attempt, max_attempts, backoff_seconds, timeout_seconds, status, plan,"
                " scheduled_for, fire_key, queued_at, not_before, cancel_requested) VALUES"
                " (:id, :schedule, :trigger, :by, :parent, :attempt, :max, :backoff, :timeout,"
                " 'queued', :plan, :scheduled, :fire, :queued, :not_before, 0)"
            ),
            {
                "id": run_id,
                "schedule": run.schedule,
                "trigger": run.trigger,
                "by": run.triggered_by,
                "parent": run.parent_run,
                "attempt": run.attempt,
                "max": run.max_attempts,
                "backoff": run.backoff_seconds,
                "timeout": run.timeout_seconds,
                "plan": json.dumps([s.as_json() for s in run.plan]),
                "scheduled": run.scheduled_for.timestamp() if run.scheduled_for else None,
                "fire": run.fire_key,
                "queued": queued,
                "not_before": run.not_before.timestamp() if run.not_before else queued,
            },
        )
        db.execute(
            sa.text(
                "INSERT INTO weir_run_steps (run_id, position, kind, target, status)"
                " VALUES (:id, :pos, :kind, :target, 'pending')"
            ),
            [
                {"id": run_id, "pos": i, "kind": s.kind, "target": s.target}
                for i, s in enumerate(run.plan)
            ],
        )

    # -- claiming and leases ----------------------------------------------------------
    def claim(
        self, worker: str, now: datetime, lease_seconds: float, limits: Mapping[str, int]
    ) -> int | None:
        """Take the oldest queued run that is due and within its schedule's concurrency."""
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        with self.writing() as db:
            candidates = db.execute(
                sa.text(
                    "SELECT run_id, schedule FROM weir_orchestrated_runs WHERE status = 'queued'"
                    " AND not_before <= :now ORDER BY not_before, run_id"
                    f" LIMIT {_CANDIDATES}{lock}"
                ),
                {"now": now.timestamp()},
            ).all()
            if not candidates:
                return None
            for run_id, schedule in candidates:
                if schedule is not None and not self._room(db, schedule, limits.get(schedule, 1)):
                    continue
                taken = db.execute(
                    sa.text(
                        "UPDATE weir_orchestrated_runs SET status = 'running', worker = :w, started_at = :t,"
                        " lease_until = :l WHERE run_id = :id AND status = 'queued'"
                    ),
                    {
                        "w": worker,
                        "t": now.timestamp(),
                        "l": now.timestamp() + lease_seconds,
                        "id": run_id,
                    },
                )
                if taken.rowcount == 1:
                    return int(run_id)
        return None

    def _room(self, db: Connection, schedule: str, limit: int) -> bool:
        """Whether another run of ``schedule`` may start (the caller is claiming one).

        On PostgreSQL claimers of one schedule take turns on an advisory lock held to
        the end of the claim; one that finds it taken leaves the schedule to them.
        """
        if self.dialect == "postgresql":
            mine = db.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                {"k": f"weir.orchestrate:{schedule}"},
            ).scalar_one()
            if not mine:
                return False
        running = db.execute(
            sa.text(
                "SELECT COUNT(*) FROM weir_orchestrated_runs WHERE status = 'running'"
                " AND schedule = :s"
            ),
            {"s": schedule},
        ).scalar_one()
        return int(running) < limit

    def renew(self, run_id: int, worker: str, until: datetime) -> Lease:
        with self.store.begin() as db:
            moved = db.execute(
                sa.text(
                    "UPDATE weir_orchestrated_runs SET lease_until = :l WHERE run_id = :id"
                    " AND worker = :w AND status = 'running'"
                ),
                {"l": until.timestamp(), "id": run_id, "w": worker},
            )
            cancel = db.execute(
                sa.text("SELECT cancel_requested FROM weir_orchestrated_runs WHERE run_id = :id"),
                {"id": run_id},
            ).scalar_one()
        return Lease(held=moved.rowcount == 1, cancel=bool(cancel))

    def lapsed(self, now: datetime) -> list[int]:
        """Runs whose worker's lease ran out: now ``abandoned``, each by exactly one caller."""
        with self.store.begin() as db:
            ids = [
                int(r[0])
                for r in db.execute(
                    sa.text(
                        "SELECT run_id FROM weir_orchestrated_runs WHERE status = 'running' AND lease_until < :n"
                    ),
                    {"n": now.timestamp()},
                )
            ]
        taken = []
        for run_id in ids:
            with self.writing() as db:
                moved = db.execute(
                    sa.text(
                        "UPDATE weir_orchestrated_runs SET status = 'abandoned', finished_at = :n,"
                        " error = 'its worker stopped holding its lease (killed or lost)'"
                        " WHERE run_id = :id AND status = 'running' AND lease_until < :n"
                    ),
                    {"n": now.timestamp(), "id": run_id},
                )
                if moved.rowcount == 1:
                    db.execute(
                        sa.text(
                            "UPDATE weir_run_steps SET status = 'failed',"
                            " error = 'abandoned' WHERE run_id = :id AND status = 'running'"
                        ),
                        {"id": run_id},
                    )
                    db.execute(
                        sa.text(
                            "UPDATE weir_run_steps SET status = 'skipped'"
                            " WHERE run_id = :id AND status = 'pending'"
                        ),
                        {"id": run_id},
                    )
                    taken.append(run_id)
        return taken

    def finish(
        self, run_id: int, worker: str | None, status: RunStatus, now: datetime, error: str | None
    ) -> bool:
        """Record the end of a run still held by ``worker`` (None: a queued run)."""
        held = "worker = :w AND status = 'running'" if worker else "status = 'queued'"
        with self.store.begin() as db:
            moved = db.execute(
                sa.text(
                    "UPDATE weir_orchestrated_runs SET status = :s, finished_at = :n, error = :e,"
                    f" lease_until = NULL WHERE run_id = :id AND {held}"
                ),
                {"s": status, "n": now.timestamp(), "e": error, "id": run_id, "w": worker},
            )
            if moved.rowcount == 1 and status != "succeeded":
                db.execute(
                    sa.text(
                        "UPDATE weir_run_steps SET status = 'skipped' WHERE run_id = :id"
                        " AND status = 'pending'"
                    ),
                    {"id": run_id},
                )
        return moved.rowcount == 1

    def request_cancel(self, run_id: int) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_orchestrated_runs SET cancel_requested = 1 WHERE run_id = :id"
                ),
                {"id": run_id},
            )

    # -- steps and logs ---------------------------------------------------------------
    def step(
        self,
        run_id: int,
        position: int,
        status: StepStatus,
        rows: int | None = None,
        seconds: float | None = None,
        error: str | None = None,
    ) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_run_steps SET status = :s, row_count = :r, seconds = :sec,"
                    " error = :e WHERE run_id = :id AND position = :p"
                ),
                {"s": status, "r": rows, "sec": seconds, "e": error, "id": run_id, "p": position},
            )

    def log(self, run_id: int, now: datetime, level: str, message: str) -> None:
        for tries_left in reversed(range(20)):  # a worker and a cancel may log at once
            try:
                with self.writing() as db:
                    seq = db.execute(
                        sa.text(
                            "SELECT COALESCE(MAX(seq), 0) + 1 FROM weir_run_logs WHERE run_id = :id"
                        ),
                        {"id": run_id},
                    ).scalar_one()
                    db.execute(
                        sa.text(
                            "INSERT INTO weir_run_logs (run_id, seq, at, level, message)"
                            " VALUES (:id, :seq, :at, :level, :m)"
                        ),
                        {
                            "id": run_id,
                            "seq": seq,
                            "at": now.timestamp(),
                            "level": level,
                            "m": message,
                        },
                    )
                return
            except sa.exc.IntegrityError:
                if not tries_left:
                    raise

    def logs(self, run_id: int) -> list[LogLine]:
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT seq, at, level, message FROM weir_run_logs WHERE run_id = :id"
                    " ORDER BY seq"
                ),
                {"id": run_id},
            ).all()
        return [LogLine(int(s), at(a) or _never(), str(lv), str(m)) for s, a, lv, m in rows]

    # -- reading runs -----------------------------------------------------------------
    def get(self, run_id: int) -> Run | None:
        found = self.runs(run_id=run_id, limit=1)
        return found[0] if found else None

    def runs(
        self,
        *,
        run_id: int | None = None,
        status: str | None = None,
        schedule: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        where, params = [], {}  # type: tuple[list[str], dict[str, Any]]
        for column, value in (("run_id", run_id), ("status", status), ("schedule", schedule)):
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        if since is not None:
            where.append("queued_at >= :since")
            params["since"] = since.timestamp()
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.store.begin() as db:
            rows = (
                db.execute(
                    sa.text(
                        f"SELECT * FROM weir_orchestrated_runs{clause} ORDER BY run_id DESC"
                        f" LIMIT {int(limit)} OFFSET {int(offset)}"
                    ),
                    params,
                )
                .mappings()
                .all()
            )
            ids = [int(r["run_id"]) for r in rows]
            steps: dict[int, list[Step]] = {i: [] for i in ids}
            if ids:
                found = db.execute(
                    sa.text(
                        "SELECT run_id, position, kind, target, status, row_count, seconds, error"
                        " FROM weir_run_steps WHERE run_id IN :ids ORDER BY run_id, position"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": ids},
                )
                for rid, pos, kind, target, st, count, sec, err in found:
                    steps[int(rid)].append(Step(int(pos), kind, target, st, count, sec, err))
        return [_run(row, steps[int(row["run_id"])]) for row in rows]

    def status_counts(self) -> dict[str, int]:
        with self.store.begin() as db:
            return {
                str(s): int(n)
                for s, n in db.execute(
                    sa.text("SELECT status, COUNT(*) FROM weir_orchestrated_runs GROUP BY status")
                )
            }

    def last_started(self) -> dict[str, tuple[float, float]]:
        """schedule → (scheduled_for, started_at) of its newest scheduled run that started."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT schedule, scheduled_for, started_at FROM weir_orchestrated_runs"
                    " WHERE run_id IN (SELECT MAX(run_id) FROM weir_orchestrated_runs"
                    " WHERE scheduled_for IS NOT NULL AND started_at IS NOT NULL"
                    " GROUP BY schedule)"
                )
            ).all()
        return {str(s): (float(f), float(t)) for s, f, t in rows}

    # -- schedule states --------------------------------------------------------------
    def states(self) -> dict[str, StoredState]:
        with self.store.begin() as db:
            rows = db.execute(sa.text("SELECT * FROM weir_schedule_state")).mappings().all()
        return {
            str(r["schedule"]): StoredState(
                str(r["schedule"]),
                bool(r["paused"]),
                r["cron_override"],
                r["last_fire"],
                r["input_mark"],
                r["updated_at"],
                r["updated_by"],
            )
            for r in rows
        }

    def set_state(self, schedule: str, **values: Any) -> None:
        """Set columns of a schedule's state, creating the row if it is new."""
        with self.writing() as db:
            exists = db.execute(
                sa.text("SELECT 1 FROM weir_schedule_state WHERE schedule = :s"), {"s": schedule}
            ).first()
            if exists is None:
                db.execute(
                    sa.text("INSERT INTO weir_schedule_state (schedule, paused) VALUES (:s, 0)"),
                    {"s": schedule},
                )
            if values:
                sets = ", ".join(f"{column} = :{column}" for column in values)
                db.execute(
                    sa.text(f"UPDATE weir_schedule_state SET {sets} WHERE schedule = :s"),
                    {"s": schedule, **values},
                )

    def committed_since(self, sources: Sequence[str], mark: float) -> tuple[float, str] | None:
        """The newest batch of ``sources`` committed after ``mark``: (finished_at, batch_id)."""
        with self.store.begin() as db:
            row = db.execute(
                sa.text(
                    "SELECT finished_at, batch_id FROM weir_batches WHERE status = 'committed'"
                    " AND source IN :sources AND finished_at > :mark"
                    " ORDER BY finished_at DESC, batch_id DESC LIMIT 1"
                ).bindparams(sa.bindparam("sources", expanding=True)),
                {"sources": list(sources), "mark": mark},
            ).first()
        return None if row is None else (float(row[0]), str(row[1]))

    def newest_commit(self, sources: Sequence[str]) -> float:
        with self.store.begin() as db:
            value = db.execute(
                sa.text(
                    "SELECT MAX(finished_at) FROM weir_batches WHERE status = 'committed'"
                    " AND source IN :sources"
                ).bindparams(sa.bindparam("sources", expanding=True)),
                {"sources": list(sources)},
            ).scalar_one()
        return float(value) if value is not None else 0.0


def _never() -> datetime:
    raise ValueError("a log line without a time")


def _run(row: sa.RowMapping, steps: list[Step]) -> Run:
    plan = tuple(
        PlannedStep(s["kind"], s["target"], s.get("args", {})) for s in json.loads(row["plan"])
    )
    return Run(
        run_id=int(row["run_id"]),
        schedule=row["schedule"],
        trigger=row["trigger_kind"],
        triggered_by=row["triggered_by"],
        parent_run=row["parent_run"],
        attempt=int(row["attempt"]),
        max_attempts=int(row["max_attempts"]),
        status=row["status"],
        queued_at=at(row["queued_at"]) or _never(),
        scheduled_for=at(row["scheduled_for"]),
        not_before=at(row["not_before"]) or _never(),
        started_at=at(row["started_at"]),
        finished_at=at(row["finished_at"]),
        worker=row["worker"],
        error=row["error"],
        steps=tuple(steps),
        plan=plan,
        backoff_seconds=float(row["backoff_seconds"]),
        timeout_seconds=row["timeout_seconds"],
    )
