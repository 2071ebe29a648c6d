"""The quality routes of ``/api/v1``: health and flagged days, and the freshness gauges.

``GET /api/v1/health`` gives every source, stream and model its state;
``GET``/``POST /api/v1/flags`` and ``DELETE /api/v1/flags/{day}`` list, add
and remove flagged days. Each route authenticates a bearer token like every
``/api/v1`` route, is for the roles ``may_operate`` allows, and makes one
call into ``project.quality``. ``/metrics`` gains
``weir_source_freshness_seconds{source, basis}``: the age of each source's
newest event (``basis="event"``) and newest batch (``basis="arrival"``), at
scrape time.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import Field

from weir.errors import AccessDenied
from weir.governance.policy import Principal
from weir.metrics.flags import FlaggedDay
from weir.project.base import Strict
from weir.serve.api import API_ERRORS, _guarded_route, _known_parameters
from weir.workspace import Project


def may_operate(project: Project, principal: Principal) -> bool:
    """Whether the principal's role may see health and change flagged days (operators, admins)."""
    return project.access.policy().is_operator(principal.role)


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
    day: date
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
    bearer = HTTPBearer(auto_error=False)

    def operator_principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        known = getattr(request.state, "principal", None)
        found = (
            known
            if isinstance(known, Principal)
            else tokens.authenticate(credentials.credentials if credentials else None)
        )
        if not may_operate(project, found):
            raise AccessDenied(
                f"role {found.role} may not see health or change flagged days",
                "ask for a token of a role with admin: true in weir.yml",
            )
        return found

    Operator = Annotated[Principal, Depends(operator_principal)]
    router = APIRouter(
        prefix="/api/v1",
        tags=["quality"],
        responses=API_ERRORS,
        dependencies=[Depends(_known_parameters)],
        route_class=_guarded_route(tokens),
    )

    @router.get("/health", summary="The state of every source, stream and model (admin)")
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

    @router.get("/flags", summary="Every flagged day (admin)")
    def flags(caller: Operator) -> FlagList:
        return FlagList(flags=[_flag(f) for f in project.quality.flags()])

    @router.post("/flags", summary="Flag a day, for one KPI or every KPI (admin)", status_code=201)
    def add_flag(body: FlagRequest, caller: Operator) -> Flag:
        return _flag(project.quality.flag(body.day, body.reason, body.kpi, caller.user))

    @router.delete("/flags/{day}", summary="Remove a day's flags (admin)")
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
