"""The runs and schedules API (``/api/v1/runs``, ``/api/v1/schedules``) and the orchestrator service.

The same conventions as the rest of ``/api/v1``: a bearer token's principal,
the one error shape, one library call per route (``project.runs``,
``project.schedules``). Every route is for a role with ``operator: true`` or
``admin: true``. ``runs_router(app)`` also adds the orchestrator (scheduler
and worker) to the app's services, so ``weir serve`` runs the project's
schedules, and its run counts and schedule lag to the app's Prometheus registry.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import Field, StrictBool

from weir.errors import QueryError
from weir.governance.policy import Principal
from weir.orchestrate.records import Run as RunRecord
from weir.orchestrate.records import RunStatus, ScheduleState
from weir.project.base import Strict
from weir.serve.api import IsoDate
from weir.serve.problems import error_responses
from weir.serve.routing import api_v1_router, operator_of
from weir.workspace import Project

RunId = Annotated[int, Path(ge=1, le=2**62, description="the run's number")]
ScheduleName = Annotated[str, Path(max_length=63, description="the schedule's name")]


class StepItem(Strict):
    position: int
    kind: str
    target: str
    status: str
    rows: int | None
    seconds: float | None
    error: str | None


class RunItem(Strict):
    run_id: int
    schedule: str | None
    trigger: str = Field(description="schedule, manual, rerun, backfill or input")
    triggered_by: str | None
    parent_run: int | None = Field(description="the run this one re-runs or retries")
    attempt: int
    status: str
    queued_at: str | None
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    worker: str | None
    error: str | None
    steps: list[StepItem]


class RunPage(Strict):
    runs: list[RunItem]
    next_offset: int | None = Field(description="pass as `offset` for the next (older) page")


class LogItem(Strict):
    seq: int
    at: datetime
    level: str
    message: str


class RunLogs(Strict):
    run_id: int
    lines: list[LogItem]


class TriggerRequest(Strict):
    schedule: str | None = Field(default=None, max_length=63, description="a schedule to run")
    select: list[str] | None = Field(default=None, description="models to build instead")
    sources: list[str] | None = Field(default=None, description="sources to ingest instead")
    backfill: tuple[IsoDate, IsoDate] | None = Field(
        default=None, description="[start, end) days: rebuild `select` over this window"
    )


class RerunRequest(Strict):
    failed_only: StrictBool = False


class ScheduleItem(Strict):
    name: str
    cron: str | None = Field(description="the cron line in weir.yml")
    override: str | None = Field(description="the cron line set over it (in force when set)")
    after: list[str]
    paused: bool
    next_fire: str | None
    last_fire: str | None
    updated_by: str | None
    updated_at: str | None


class ScheduleList(Strict):
    schedules: list[ScheduleItem]


class ScheduleChange(Strict):
    paused: bool | None = Field(default=None, description="pause (true) or resume (false)")
    cron: str | None = Field(default=None, max_length=200, description="override the cron line")
    reset: bool = Field(default=False, description="drop the override")


def _run_item(run: RunRecord) -> RunItem:
    return RunItem(
        **run.as_row(),
        steps=[StepItem.model_validate(vars(s)) for s in run.steps],
    )


def _schedule_item(state: ScheduleState) -> ScheduleItem:
    return ScheduleItem.model_validate(state.as_row())


def runs_router(app: FastAPI) -> APIRouter:
    """The runs and schedules routes; adds the orchestrator service and its metrics."""
    project: Project = app.state.project
    app.state.services.append(project.orchestrate.service())
    app.state.registry.register(RunMetrics(project))
    tokens = project.access.tokens()
    may_not = "operate runs and schedules"
    Operator = Annotated[Principal, Depends(operator_of(tokens, project.access.policy, may_not))]
    router = api_v1_router(
        tokens,
        error_responses(
            {
                400: "the request cannot be carried out (a finished run to cancel, a bad cron line)",
                401: "no token, or a token unknown, revoked or expired",
                403: "the role is neither an operator nor an admin",
                404: "no such run or schedule",
                413: "the request is over a limit",
                422: "the request does not match this document",
            }
        ),
        tags=["runs"],
    )

    @router.get("/runs", summary="Runs, newest first (operator)")
    def list_runs(
        caller: Operator,
        status: RunStatus | None = None,
        schedule: Annotated[str | None, Query(max_length=63)] = None,
        since: Annotated[
            str | None, Query(max_length=40, description="a day (2026-01-01) or a duration (24h)")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> RunPage:
        found = project.runs.list(status, since, schedule, limit, offset)
        full = len(found) == limit
        return RunPage(
            runs=[_run_item(r) for r in found], next_offset=offset + limit if full else None
        )

    @router.get("/runs/{run_id}", summary="One run and its steps (operator)")
    def get_run(caller: Operator, run_id: RunId) -> RunItem:
        return _run_item(project.runs.get(run_id))

    @router.get("/runs/{run_id}/logs", summary="A run's log lines (operator)")
    def run_logs(caller: Operator, run_id: RunId) -> RunLogs:
        lines = project.runs.logs(run_id)
        return RunLogs(
            run_id=run_id,
            lines=[LogItem(seq=x.seq, at=x.at, level=x.level, message=x.message) for x in lines],
        )

    @router.post(
        "/runs", status_code=201, summary="Queue a run: a schedule, models, sources or a backfill"
    )
    def trigger(caller: Operator, body: TriggerRequest) -> RunItem:
        if body.backfill is not None:
            if body.schedule or body.sources:
                raise QueryError("a backfill names models only", "send select and backfill")
            start, end = body.backfill
            return _run_item(project.runs.backfill(body.select or [], start, end, caller.user))
        return _run_item(
            project.runs.trigger(body.schedule, body.select, body.sources, caller.user)
        )

    @router.post("/runs/{run_id}/rerun", status_code=201, summary="Queue a finished run again")
    def rerun(caller: Operator, run_id: RunId, body: RerunRequest) -> RunItem:
        return _run_item(project.runs.rerun(run_id, body.failed_only, caller.user))

    @router.post("/runs/{run_id}/cancel", summary="Cancel a queued or running run")
    def cancel(caller: Operator, run_id: RunId) -> RunItem:
        return _run_item(project.runs.cancel(run_id, caller.user))

    @router.get("/schedules", summary="Every schedule as it stands (operator)")
    def schedules(caller: Operator) -> ScheduleList:
        return ScheduleList(schedules=[_schedule_item(s) for s in project.schedules.list()])

    @router.get("/schedules/{name}", summary="One schedule as it stands (operator)")
    def get_schedule(caller: Operator, name: ScheduleName) -> ScheduleItem:
        return _schedule_item(project.schedules.get(name))

    @router.patch(
        "/schedules/{name}", summary="Pause, resume, override the cron line or reset (audited)"
    )
    def change_schedule(caller: Operator, name: ScheduleName, body: ScheduleChange) -> ScheduleItem:
        if body.reset and body.cron is not None:
            raise QueryError("reset and cron contradict each other", "send one of them")
        state = project.schedules.get(name)
        if body.cron is not None:
            state = project.schedules.set(name, body.cron, caller.user)
        if body.reset:
            state = project.schedules.reset(name, caller.user)
        if body.paused is True:
            state = project.schedules.pause(name, caller.user)
        elif body.paused is False:
            state = project.schedules.resume(name, caller.user)
        return _schedule_item(state)

    return router


class RunMetrics(Collector):
    """Prometheus: runs by status, and each schedule's lag (fire to start), read when scraped."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily("weir_runs", "Orchestrated runs, by status", labels=["status"])
        for status, count in self.project.runs.status_counts().items():
            runs.add_metric([status], count)
        yield runs
        lag = GaugeMetricFamily(
            "weir_schedule_lag_seconds",
            "Seconds from a schedule's newest fire to the start of its run",
            labels=["schedule"],
        )
        for name, seconds in self.project.schedules.lag().items():
            lag.add_metric([name], seconds)
        yield lag
