"""The orchestrate component: schedules, runs, the scheduler and its workers.

A project runs itself: ``schedules:`` in ``weir.yml`` say what to run (ingest
sources, build models, a quality pass) and when (a cron line, or after a new
batch of some sources); the scheduler enqueues each fire once, a worker claims
each queued run through a lease in the metadata database, executes its steps
through the handlers it is given, retries with backoff, and records every run,
step and log line.
"""

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
