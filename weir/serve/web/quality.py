"""Quality and alerts (``/quality``): what is firing, what the checks found, and flagged days.

Every signed-in user sees the alert rules with their state, the incidents and
the deliveries of their notices (as ``GET /api/v1/alerts`` answers any
caller). Operator roles also see each model's audits and its newest build,
the checks' latest findings (anomalies first), and the flagged days; and may
flag a day or remove a flag (with a reason, on the audit log) and silence a
rule — the same calls as ``/api/v1/flags`` and ``/api/v1/alerts/{rule}/silence``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from weir.serve.alerts import may_manage_alerts
from weir.serve.web.auth import project_of, require_operator, require_user
from weir.serve.web.shell import WebUser, page

User = Annotated[WebUser, Depends(require_user)]
Operator = Annotated[WebUser, Depends(require_operator)]
Reason = Annotated[str, Form(min_length=1, max_length=2000)]
Kpi = Annotated[str, Form(max_length=200)]
_STATE_ORDER = {"error": 0, "warn": 1, "ok": 2}


def router() -> APIRouter:
    routes = APIRouter(prefix="/quality", include_in_schema=False)

    @routes.get("")
    def quality(request: Request, user: User) -> Response:
        project = project_of(request)
        context: dict[str, Any] = {
            "rules": project.alerts.status(),
            "incidents": project.alerts.incidents(limit=50),
            "deliveries": project.alerts.history(limit=30),
        }
        if user.operator:
            checks = sorted(
                project.quality.checks(),
                key=lambda c: (_STATE_ORDER.get(c.state, 3), c.kind, c.subject),
            )
            context.update(
                audits=project.models.audit_results(),
                checks=checks,
                failing=sum(1 for c in checks if c.state != "ok"),
                flags=sorted(project.quality.flags(), key=lambda f: (f.day, f.dataset)),
                kpis=sorted(k.name for k in project.kpis.definitions()),
                today=datetime.now(UTC).date(),
            )
        return page(request, user, "panel/quality.html", "Quality and alerts", **context)

    @routes.post("/flags")
    def add_flag(
        request: Request,
        user: Operator,
        day: Annotated[date, Form()],
        reason: Reason,
        kpi: Kpi = "",
    ) -> Response:
        project_of(request).quality.flag(day, reason, kpi or None, user.name)
        return _see("/quality#flags")

    @routes.post("/flags/remove")
    def remove_flag(
        request: Request,
        user: Operator,
        day: Annotated[date, Form()],
        reason: Reason,
        kpi: Kpi = "",
    ) -> Response:
        project_of(request).quality.unflag(day, kpi or None, user.name, reason)
        return _see("/quality#flags")

    @routes.post("/alerts/{rule}/silence")
    def silence(
        request: Request,
        user: Operator,
        rule: Annotated[str, Path(max_length=63)],
        until: Annotated[datetime, Form()],
        subject: Annotated[str, Form(max_length=1000)] = "",
    ) -> Response:
        project = project_of(request)
        may_manage_alerts(project, user.principal)
        if until.tzinfo is None:  # a datetime-local field: in the project's time zone
            until = until.replace(tzinfo=project.orchestrate.zone)
        project.alerts.silence(rule, until, subject or None)
        return _see("/quality#alerts")

    return routes


def _see(path: str) -> Response:
    return RedirectResponse(path, status_code=303)
