"""The quarantine browser of the control panel (``/panel/quarantine``), for operator roles.

The summary counts each source's held records by reason (``weir quarantine
list``); a source's page shows its records with every reason they broke, read
as the signed-in user through the gateway (``project.access.quarantine``: the
role's grants and masks apply, and the read is audited), filtered by a rule or
a column named in the reasons. Replay re-checks the held records against the
current contract (``project.sources.replay``, audited under the user's name).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from weir.serve.api import json_rows
from weir.serve.web.auth import project_of, require_operator
from weir.serve.web.panel import TABS
from weir.serve.web.shell import WebUser, page

Operator = Annotated[WebUser, Depends(require_operator)]
Source = Annotated[str, Path(max_length=63)]
PAGE = 50
# the bookkeeping columns shown apart from the record's own fields
_KEPT = ("_reasons", "_source_file", "_offset", "_received_at")
_HIDDEN = frozenset({"_raw", "_problem", "_batch_id", "_record_id", *_KEPT})


def router() -> APIRouter:
    routes = APIRouter(prefix="/panel/quarantine", include_in_schema=False)

    @routes.get("")
    def summary(request: Request, user: Operator) -> Response:
        project = project_of(request)
        rows = project.sources.quarantine_summary().to_pylist()
        held = {s.source: s.held for s in project.sources.status()}
        return page(
            request,
            user,
            "panel/quarantine.html",
            "Quarantine",
            tabs=TABS,
            reasons=rows,
            held={name: count for name, count in held.items() if count},
        )

    @routes.get("/{source}")
    def records(
        request: Request,
        user: Operator,
        source: Source,
        reason: Annotated[str, Query(max_length=300)] = "",
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        released: Annotated[int | None, Query(ge=0)] = None,
        still_held: Annotated[int | None, Query(ge=0)] = None,
    ) -> Response:
        project = project_of(request)
        found = project.access.quarantine(user.principal, source, reason or None, PAGE + 1, offset)
        table = found.table
        fields = [n for n in table.column_names if n not in _HIDDEN]
        rows = [dict(zip(table.column_names, r, strict=True)) for r in json_rows(table)]
        for row in rows:  # a masked list of reasons is one text
            held = row.get("_reasons")
            row["_reasons"] = held if isinstance(held, list) else [] if held is None else [held]
        reasons = [
            r for r in project.sources.quarantine_summary().to_pylist() if r["source"] == source
        ]
        return page(
            request,
            user,
            "panel/quarantine_source.html",
            f"Quarantine of {source}",
            tabs=TABS,
            source=source,
            reason=reason,
            reasons=reasons,
            fields=fields,
            rows=rows[:PAGE],
            offset=offset,
            next_offset=offset + PAGE if len(rows) > PAGE else None,
            previous_offset=max(offset - PAGE, 0) if offset else None,
            released=released,
            still_held=still_held,
        )

    @routes.post("/{source}/replay")
    def replay(request: Request, user: Operator, source: Source) -> Response:
        result = project_of(request).sources.replay(source, by=user.name)
        counts = result.counts
        target = (
            f"/panel/quarantine/{source}?released={counts.released}&still_held={counts.quarantined}"
        )
        return RedirectResponse(target, status_code=303)

    return routes
