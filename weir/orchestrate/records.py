"""The plain records orchestration hands out: runs, their steps and log lines, schedule states.

Everything a front end shows (the CLI, the API, a control panel) is one of
these frozen records; times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "abandoned"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
# how long a run stays its worker's without a heartbeat (the worker renews it every third)
LEASE_SECONDS = 60.0
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "abandoned"})
Trigger = Literal["schedule", "manual", "rerun", "backfill", "input"]
TRIGGERS: tuple[str, ...] = get_args(Trigger)
StepKind = Literal["ingest", "models", "quality", "lifecycle"]
STEP_KINDS: tuple[str, ...] = get_args(StepKind)
StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The time now, in UTC (the default clock; tests inject their own)."""
    return datetime.now(UTC)


def at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class PlannedStep:
    """A step a run will take: its kind, what it is about, and the arguments of its handler."""

    kind: StepKind
    target: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "args": dict(self.args)}


@dataclass(frozen=True)
class Step:
    """A step as recorded: how it went."""

    position: int
    kind: StepKind
    target: str
    status: StepStatus
    rows: int | None = None
    seconds: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: datetime
    level: str
    message: str


@dataclass(frozen=True)
class Run:
    """One run: what started it, which attempt it is, where it stands, and its steps."""

    run_id: int
    schedule: str | None
    trigger: Trigger
    triggered_by: str | None
    parent_run: int | None  # the run this one re-runs or retries
    attempt: int
    max_attempts: int
    status: RunStatus
    queued_at: datetime
    scheduled_for: datetime | None
    not_before: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    error: str | None
    steps: tuple[Step, ...] = ()
    plan: tuple[PlannedStep, ...] = ()
    backoff_seconds: float = 0.0  # before its first retry; doubles for each one after
    timeout_seconds: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def as_row(self) -> dict[str, Any]:
        """A flat, JSON-ready summary (CLI listings, the API)."""
        return {
            "run_id": self.run_id,
            "schedule": self.schedule,
            "trigger": self.trigger,
            "triggered_by": self.triggered_by,
            "parent_run": self.parent_run,
            "attempt": self.attempt,
            "status": self.status,
            "queued_at": _iso(self.queued_at),
            "scheduled_for": _iso(self.scheduled_for),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "worker": self.worker,
            "error": self.error,
        }


@dataclass(frozen=True)
class ScheduleState:
    """A schedule as it stands: its file values, the overrides kept beside them, its next fire."""

    name: str
    file_cron: str | None
    override_cron: str | None
    after: tuple[str, ...]
    paused: bool
    next_fire: datetime | None
    last_fire: datetime | None
    updated_by: str | None
    updated_at: datetime | None

    @property
    def cron(self) -> str | None:
        """The cron line in force: the override, else the file's."""
        return self.override_cron or self.file_cron

    def as_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cron": self.file_cron,
            "override": self.override_cron,
            "after": list(self.after),
            "paused": self.paused,
            "next_fire": _iso(self.next_fire),
            "last_fire": _iso(self.last_fire),
            "updated_by": self.updated_by,
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class StepRequest:
    """What a step handler is given: the step, its run, a stop signal and the run's log."""

    run_id: int
    kind: StepKind
    target: str
    args: Mapping[str, Any]
    stop: threading.Event  # set when the run is cancelled or out of time
    log: Callable[[str], None]


@dataclass(frozen=True)
class StepOutcome:
    """What a handler did: rows it wrote, a one-line summary, and a failure it reports."""

    rows: int | None = None
    summary: str = ""
    error: str | None = None  # set: the step failed without raising (e.g. a model's audit)


Handler = Callable[[StepRequest], StepOutcome]
RunHook = Callable[[Run], None]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")
