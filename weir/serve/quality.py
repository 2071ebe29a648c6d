"""The quality routes of ``/api/v1``: health and flagged days, and the freshness gauges.

``GET /api/v1/health`` gives every source, stream and model its state;
``GET``/``POST /api/v1/flags`` and ``DELETE /api/v1/flags/{day}`` list, add
and remove flagged days. Each route authenticates a bearer token like every
``/api/v1`` route, is for operator and admin roles, and makes one
call into ``project.quality``. ``/metrics`` gains
``weir_source_freshness_seconds{source, basis}``: the age of each source's
newest event (``basis="event"``) and newest batch (``basis="arrival"``), at
scrape time.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import Field

from weir.governance.policy import Principal
from weir.metrics.flags import FlaggedDay
from weir.project.base import Strict
from weir.serve.api import API_ERRORS, IsoDate
from weir.serve.routing import api_v1_router, operator_of
from weir.workspace import Project


class HealthRow(Strict):
    component: str
    name: str
    state: Literal["ok", "warn", "error"]
    detail: str
    facts: dict[str, Any]


class HealthAnswer(Strict):
    checked_at: datetime
    state: Literal["ok", "warn", "error"]
    items: list[HealthRow]


class Flag(Strict):
    day: date
    kpi: str | None = Field(description="the KPI it concerns; null: every KPI")
    dataset: str
    reason: str
    flagged_by: Literal["auto", "user"]
    by: str | None = Field(description="the check or the person who flagged it")
    flagged_at: datetime


class FlagList(Strict):
    flags: list[Flag]


class FlagRequest(Strict):
    day: IsoDate
    reason: str = Field(min_length=1, max_length=2000)
    kpi: str | None = Field(default=None, max_length=200, description="default: every KPI")


def _flag(f: FlaggedDay) -> Flag:
    return Flag(
        day=f.day,
        kpi=f.kpi,
        dataset=f.dataset,
        reason=f.reason,
        flagged_by=f.flagged_by,
        by=f.by_name,
        flagged_at=datetime.fromtimestamp(f.flagged_at, UTC),
    )


def quality_router(app: FastAPI) -> APIRouter:
    """The health and flag routes of the app's project; registers its freshness gauges."""
    project: Project = app.state.project
    FreshnessMetrics(app.state.registry, project)
    tokens = project.access.tokens()
    may_not = "see health or change flagged days"
    Operator = Annotated[Principal, Depends(operator_of(tokens, project.access.policy, may_not))]
    router = api_v1_router(tokens, API_ERRORS, tags=["quality"])

    @router.get(
        "/health", summary="The state of every source, stream, schedule and model (operator)"
    )
    def health(caller: Operator) -> HealthAnswer:
        found = project.quality.health()
        return HealthAnswer(
            checked_at=datetime.fromtimestamp(found.checked_at, UTC),
            state=found.state,
            items=[
                HealthRow(
                    component=i.component,
                    name=i.name,
                    state=i.state,
                    detail=i.detail,
                    facts=i.facts,
                )
                for i in found.items
            ],
        )

    @router.get("/flags", summary="Every flagged day (operator)")
    def flags(caller: Operator) -> FlagList:
        return FlagList(flags=[_flag(f) for f in project.quality.flags()])

    @router.post(
        "/flags", summary="Flag a day, for one KPI or every KPI (operator)", status_code=201
    )
    def add_flag(body: FlagRequest, caller: Operator) -> Flag:
        return _flag(project.quality.flag(body.day, body.reason, body.kpi, caller.user))

    @router.delete("/flags/{day}", summary="Remove a day's flags (operator)")
    def remove_flag(
        caller: Operator,
        day: Annotated[date, Path(description="YYYY-MM-DD")],
        kpi: str | None = None,
    ) -> FlagList:
        return FlagList(flags=[_flag(f) for f in project.quality.unflag(day, kpi, caller.user)])

    return router


class FreshnessMetrics:
    """``weir_source_freshness_seconds``: each source's newest event and batch age, at scrape."""

    def __init__(self, registry: CollectorRegistry, project: Project) -> None:
        self.project = project
        registry.register(self)  # type: ignore[arg-type]

    def describe(self) -> Iterator[Metric]:
        """The gauge's name for the registry, without reading the lake at registration."""
        yield self._gauge()

    def collect(self) -> Iterator[Metric]:
        gauge = self._gauge()
        for source, found in sorted(self.project.quality.ages().items()):
            if found.event is not None:
                gauge.add_metric([source, "event"], found.event)
            if found.arrival is not None:
                gauge.add_metric([source, "arrival"], found.arrival)
        yield gauge

    @staticmethod
    def _gauge() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "weir_source_freshness_seconds",
            "Age of a source's newest event (basis=event) and newest batch (basis=arrival)",
            labels=["source", "basis"],
        )
