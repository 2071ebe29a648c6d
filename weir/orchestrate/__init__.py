"""The orchestrate component: schedules, runs, the scheduler and its workers.

A project runs itself: ``schedules:`` in ``weir.yml`` say what to run (ingest
sources, build models, a quality pass) and when (a cron line, or after a new
batch of some sources); the scheduler enqueues each fire once, a worker claims
each queued run through a lease in the metadata database, executes its steps
through the handlers it is given, retries with backoff, and records every run,
step and log line.

The names below are imported when first used, so the CLI can read the plain
records (``weir.orchestrate.records``) without loading the database layer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.orchestrate.records import (
        Handler,
        LogLine,
        PlannedStep,
        Run,
        RunHook,
        ScheduleState,
        Step,
        StepOutcome,
        StepRequest,
    )
    from weir.orchestrate.scheduler import Scheduler
    from weir.orchestrate.service import Orchestration, Orchestrator, Runs, Schedules
    from weir.orchestrate.worker import Worker

_WHERE = {
    **dict.fromkeys(
        (
            "Handler",
            "LogLine",
            "PlannedStep",
            "Run",
            "RunHook",
            "ScheduleState",
            "Step",
            "StepOutcome",
            "StepRequest",
        ),
        "records",
    ),
    "Scheduler": "scheduler",
    **dict.fromkeys(("Orchestration", "Orchestrator", "Runs", "Schedules"), "service"),
    "Worker": "worker",
}

__all__ = [
    "Handler",
    "LogLine",
    "Orchestration",
    "Orchestrator",
    "PlannedStep",
    "Run",
    "RunHook",
    "Runs",
    "ScheduleState",
    "Scheduler",
    "Schedules",
    "Step",
    "StepOutcome",
    "StepRequest",
    "Worker",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'weir.orchestrate' has no attribute {name!r}")
    return getattr(import_module(f"weir.orchestrate.{module}"), name)
