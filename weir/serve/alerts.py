"""The alerts routes of ``/api/v1``, the alerts service of ``weir serve`` and its gauge.

``GET /api/v1/alerts``: the rules, their firing incidents and silences, and
the latest incidents (any authenticated caller). ``POST
/api/v1/alerts/{rule}/silence``: quiet a rule (or one subject) until a time,
for the callers ``may_manage_alerts`` lets through. Every evaluation round runs
in ``AlertService`` (every ``alerts.evaluate_seconds``); Prometheus reads
``weir_alerts_firing`` by rule at each scrape.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import Field

from weir.alerts import Alerts, AlertService
from weir.errors import AccessDenied
from weir.governance.policy import Principal
from weir.project.base import Strict
from weir.serve.api import IsoTime
from weir.serve.problems import error_responses
from weir.serve.routing import api_v1_router, caller_of
from weir.workspace import Project


class AlertsGauge:
    """``weir_alerts_firing{rule}``: the firing incidents of each rule, read at scrape time."""

    def __init__(self, registry: CollectorRegistry, alerts: Alerts) -> None:
        self.alerts = alerts
        registry.register(self)  # type: ignore[arg-type]

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "weir_alerts_firing", "Alert incidents firing now, by rule", labels=["rule"]
        )
        for rule, count in self.alerts.firing_counts().items():
            gauge.add_metric([rule], float(count))
        yield gauge


class RuleState(Strict):
    rule: str
    kind: str
    severity: str | None
    channels: list[str]
    renotify: str | None
    state: str = Field(description="firing (an incident is open) or ok")
    firing: int = Field(description="incidents firing now")
    subjects: list[str] = Field(description="what they are about")
    silenced_until: str | None = Field(description="the whole rule is silenced until then")
    silenced_subjects: dict[str, str | None] = Field(description="subject → silenced until")


class IncidentItem(Strict):
    rule: str
    subject: str
    state: str
    severity: str
    message: str
    started_at: str | None
    resolved_at: str | None
    notified_at: str | None
    notifications: int
    incident_id: str


class AlertsAnswer(Strict):
    rules: list[RuleState]
    incidents: list[IncidentItem] = Field(description="the newest 100 incidents, any state")


class SilenceRequest(Strict):
    until: IsoTime = Field(description="until when (ISO time; without a zone: UTC)")
    subject: str | None = Field(
        default=None, max_length=1000, description="only this subject; default: the whole rule"
    )


class SilenceAnswer(Strict):
    rule: str
    subject: str | None
    until: str


def may_manage_alerts(project: Project, caller: Principal) -> None:
    """Who may silence alerts: an operator or admin role (AccessDenied otherwise)."""
    if not project.access.policy().is_operator(caller.role):
        raise AccessDenied(
            f"the role {caller.role} may not silence alerts",
            "ask for a token of a role with operator: true (or admin: true) in weir.yml",
        )


def alerts_router(app: FastAPI) -> APIRouter:
    """The alerts routes; adds the alerts service to the app's services and the gauge to its registry."""
    project: Project = app.state.project
    project.alerts.check()  # a rule naming an unknown KPI stops the server as it starts
    app.state.services.append(AlertService(project.alerts))
    AlertsGauge(app.state.registry, project.alerts)
    tokens = project.access.tokens()
    Caller = Annotated[Principal, Depends(caller_of(tokens))]
    router = api_v1_router(
        tokens,
        error_responses(
            {
                400: "a time in the past or out of range",
                401: "no token, or a token unknown, revoked or expired",
                403: "the role may not silence alerts",
                404: "no alert rule of that name",
                413: "the request body is over the limit",
                422: "the request does not match this document",
            }
        ),
        tags=["alerts"],
    )

    @router.get("/alerts", summary="The alert rules, whether each is firing, and recent incidents")
    def alerts(caller: Caller) -> AlertsAnswer:
        del caller  # any authenticated caller may see what is firing
        return AlertsAnswer(
            rules=[RuleState.model_validate(r) for r in project.alerts.status()],
            incidents=[
                IncidentItem.model_validate(i.as_row()) for i in project.alerts.incidents(limit=100)
            ],
        )

    @router.post(
        "/alerts/{rule}/silence", summary="Send nothing for a rule (or one subject) until a time"
    )
    def silence(
        caller: Caller, body: SilenceRequest, rule: Annotated[str, Path(max_length=63)]
    ) -> SilenceAnswer:
        may_manage_alerts(project, caller)
        until = project.alerts.silence(rule, body.until, body.subject)
        return SilenceAnswer(
            rule=rule, subject=body.subject, until=until.isoformat(timespec="seconds")
        )

    return router
