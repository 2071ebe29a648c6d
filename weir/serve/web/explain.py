"""Every number explains itself: the explain panel of a dashboard's items, and reproducing one.

``GET /dashboards/<name>/<kind>/<number>/explain`` (with the dashboard's
filters in the address) answers ``project.explanations.explain`` as the
signed-in user: the KPI's definition, its SQL, its column lineage down to the
source fields, the snapshots it is computed from, the flagged days in its
range, and a link that answers it again as of those snapshots. Asked by htmx
(the "Why this number?" link of a tile or chart) it answers the panel alone,
which htmx puts beside the tiles; followed as a plain link, a page with it.

``GET /kpis/<name>`` is that link: the KPI asked through ``project.access.kpi``
(what ``GET /api/v1/kpis/<name>`` calls, with the same parameters, ``as_of``
among them) and shown as a table, with the API address to script it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from weir.governance.explain import Explanation
from weir.metrics.query import KpiOptions
from weir.serve.api import IsoDate, IsoTime, json_rows
from weir.serve.web.auth import project_of, require_user
from weir.serve.web.boards import filters_of
from weir.serve.web.catalog import dataset_href
from weir.serve.web.shell import SECURITY_HEADERS, WebUser, page, shell_of

User = Annotated[WebUser, Depends(require_user)]
Kind = Literal["tile", "chart", "table"]


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/dashboards/{name}/{kind}/{number}/explain")
    async def explain(
        request: Request,
        name: Annotated[str, Path(max_length=200)],
        kind: Kind,
        number: Annotated[int, Path(ge=1, le=1000)],
        user: User,
    ) -> Response:
        project = project_of(request)

        def explained() -> Explanation:
            filters = filters_of(project, user, name, request)
            return project.explanations.explain(user.principal, name, kind, number - 1, filters)

        found = await run_in_threadpool(explained)
        back = f"/dashboards/{name}?{request.url.query}"
        context = _context(found, back)
        if request.headers.get("hx-request") == "true":
            html = shell_of(request).env.get_template("_explain.html").render(**context)
            return Response(html, media_type="text/html", headers=dict(SECURITY_HEADERS))
        return page(
            request, user, "explain.html", f"Where this number comes from: {name}", **context
        )

    @routes.get("/kpis/{name}")
    def reproduce(
        request: Request,
        user: User,
        name: Annotated[str, Path(max_length=200)],
        grain: Literal["day", "week", "month"] = "day",
        by: Annotated[list[str], Query()] = [],  # noqa: B006
        start: Annotated[IsoDate | None, Query(alias="from")] = None,
        end: Annotated[IsoDate | None, Query(alias="to")] = None,
        compare: Literal["previous_period"] | None = None,
        exclude_flagged: bool = False,
        as_of: Annotated[IsoTime | None, Query()] = None,
    ) -> Response:
        project = project_of(request)
        options: KpiOptions = {"start": start, "end": end, "compare": compare, "as_of": as_of}
        options["exclude_flagged"] = exclude_flagged
        result = project.access.kpi(user.principal, name, grain, by, **options)
        rows = json_rows(result.table)
        names = result.table.column_names
        last = dict(zip(names, rows[-1], strict=True)) if rows else {}
        return page(
            request,
            user,
            "kpi.html",
            f"{name} by {grain}",
            kpi=project.dashboards.definition(name),
            grain=grain,
            by=by,
            as_of=as_of,
            columns=names,
            rows=rows,
            types=["number" if _numeric(str(f.type)) else "text" for f in result.table.schema],
            last=last,
            truncated=result.truncated,
            api=f"/api/v1/kpis/{name}?{request.url.query}",
        )

    return routes


def _context(found: Explanation, back: str) -> dict[str, Any]:
    kpi = found.kpi
    query = urlencode(found.reproduce())
    return {
        "e": found,
        "kpi": kpi,
        "back": back,
        "reproduce": f"/kpis/{kpi.name}?{query}",
        "api": f"/api/v1/kpis/{kpi.name}?{query}",
        "href": dataset_href,
    }


def _numeric(kind: str) -> bool:
    return kind.startswith(("int", "uint", "float", "double", "decimal"))
