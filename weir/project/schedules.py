"""Schedules in ``weir.yml``: what a project runs on its own, and when.

A schedule names what it runs (``sources`` to ingest, a model ``select``ion,
a ``quality`` pass) and when: a ``cron`` line in the project's time zone,
``after`` a new batch of some sources is committed, or both. How a fire missed
while weir was down is caught up, how a failed run is retried, how long a run
may take and how many of its runs may run at once are settings of their own.

What can be checked from ``weir.yml`` alone is checked here, at load; whether
the sources and models it names exist is checked when the project opens
(``weir.orchestrate.checks``), with the same file, line and fix.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from croniter import croniter
from pydantic import AfterValidator, Field, field_validator, model_validator

from weir.project.base import FieldProblem, Name, Strict
from weir.project.durations import Duration, parse_duration

Catchup = Literal["latest", "all"]
CATCHUPS: tuple[str, ...] = get_args(Catchup)


def check_cron(line: str) -> str:
    """The cron line, if croniter reads it as five fields; ValueError otherwise."""
    fields = line.split()
    if len(fields) != 5 or not croniter.is_valid(line):
        raise ValueError(
            f"'{line}' is not a cron line: write five fields, minute hour day month weekday "
            "(e.g. '0 6 * * *' every day at 06:00)"
        )
    return line


class RetryConfig(Strict):
    """How a failed run is tried again: ``count`` more attempts, waiting ``backoff``, doubling."""

    count: int = Field(default=0, ge=0, le=20, description="attempts after the first")
    backoff: Duration = Field(
        default="30s", description="wait before the first retry; doubles for each one after"
    )

    @property
    def backoff_seconds(self) -> float:
        return parse_duration(self.backoff).total_seconds()


class ScheduleConfig(Strict):
    """One schedule: what it runs, when, and how its runs are retried and bounded."""

    name: Name
    description: str = ""
    sources: list[Name] = Field(default=[], description="sources to ingest (none: no ingest step)")
    select: list[str] | None = Field(
        default=None,
        description="models to build, as `weir run --select` takes them; [] builds every "
        "model that is due; left out, the schedule builds no models",
    )
    quality: bool = Field(default=False, description="run a quality pass as the last step")
    lifecycle: bool = Field(
        default=False,
        description="apply the retention rules (`weir lifecycle run`) after the other steps",
    )
    cron: str | None = Field(default=None, description="when, in the project's time zone")
    after: list[Name] = Field(
        default=[], description="run when a new batch of any of these sources is committed"
    )
    catchup: Catchup = Field(
        default="latest",
        description="fires missed while weir was down: latest runs the newest one, all runs each",
    )
    retries: RetryConfig = RetryConfig()
    timeout: Duration | None = Field(default=None, description="a run is stopped after this long")
    concurrency: int = Field(default=1, ge=1, le=100, description="runs of it at once")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _complete(self) -> ScheduleConfig:
        if self.cron is None and not self.after:
            raise FieldProblem(
                "cron",
                f"schedule '{self.name}' says neither when (cron) nor after what (after)",
                'add cron: "0 6 * * *" or after: [SOURCE]',
            )
        if not self.sources and self.select is None and not self.quality and not self.lifecycle:
            raise FieldProblem(
                "sources",
                f"schedule '{self.name}' runs nothing",
                "add sources: [...], select: [...], quality: true or lifecycle: true",
            )
        loop = sorted(set(self.sources) & set(self.after))
        if loop:
            raise FieldProblem(
                "after",
                f"schedule '{self.name}' ingests {', '.join(loop)} and runs after it: "
                "each run would start the next",
                "run the ingest in one schedule and what follows it in another",
            )
        return self

    @property
    def timeout_seconds(self) -> float | None:
        return None if self.timeout is None else parse_duration(self.timeout).total_seconds()


def check_schedules(schedules: list[ScheduleConfig]) -> list[ScheduleConfig]:
    """Each schedule's name is its own (ValueError otherwise)."""
    seen: set[str] = set()
    for schedule in schedules:
        if schedule.name in seen:
            raise ValueError(f"schedule '{schedule.name}' is declared twice")
        seen.add(schedule.name)
    return schedules


ScheduleList = Annotated[list[ScheduleConfig], AfterValidator(check_schedules)]
