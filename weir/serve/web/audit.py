"""The audit page (``/audit``), for admin roles: the log, filtered, and its verification.

The records come from ``project.access.audit_records`` (what ``GET
/api/v1/audit`` answers) and the chain's check from
``project.access.verify_audit`` (``weir audit verify``), both as the signed-in
admin; any other role gets 404. Filters (kind, user, allowed or refused) and
the page (``before``, a record's number) are in the address, so a view can be
shared. Verifying reads the whole chain, so it runs when asked (``verify=1``).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from weir.metadata.audit import AUDIT_KINDS, AuditKind
from weir.serve.web.auth import project_of, require_admin
from weir.serve.web.shell import WebUser, page

Admin = Annotated[WebUser, Depends(require_admin)]
PAGE = 100


def router() -> APIRouter:
    routes = APIRouter(prefix="/audit", include_in_schema=False)

    @routes.get("")
    def audit(
        request: Request,
        user: Admin,
        kind: AuditKind | Literal[""] = "",
        who: Annotated[str, Query(max_length=200)] = "",
        outcome: Literal["", "allowed", "refused"] = "",
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        verify: bool = False,
    ) -> Response:
        project = project_of(request)
        allowed = {"allowed": True, "refused": False}.get(outcome)
        records = project.access.audit_records(
            user.principal, kind or None, who or None, allowed, before, PAGE
        )
        older = records[-1].seq if len(records) == PAGE and records[-1].seq > 1 else None
        return page(
            request,
            user,
            "panel/audit.html",
            "Audit log",
            records=records,
            # the whole chain is read to check it: on request, not on every view
            verified=project.access.verify_audit(user.principal) if verify else None,
            kinds=AUDIT_KINDS,
            kind=kind,
            who=who,
            outcome=outcome,
            older=older,
            detail=_detail,
        )

    return routes


def _detail(value: object) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, default=str)
