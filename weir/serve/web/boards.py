"""The team dashboards: ``/dashboards/<name>`` and the CSV of every tile, chart and table.

The filters live in the address (``from``, ``to``, ``grain``, ``compare``,
``flagged=exclude`` and one parameter per dimension), so a view can be shared
and bookmarked. Every number comes from ``project.dashboards`` as the signed-in
user; each tile carries ``data-kpi`` and ``data-value`` (the unrounded value,
as ``GET /api/v1/kpis/<name>`` writes it), and each chart and table links to
the CSV of exactly the rows it draws.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from weir.errors import QueryError
from weir.governance.dashboards import Answer, Filters, View, shown
from weir.project.dashboards import Chart
from weir.project.durations import parse_duration
from weir.serve.api import json_rows
from weir.serve.web.auth import project_of, require_user
from weir.serve.web.shell import SECURITY_HEADERS, WebUser, page, shell_of

GRAINS = ("day", "week", "month")
MAX_SERIES = 7  # lines of one chart; the rest are left out, and the chart says so
_RESERVED = {"from", "to", "grain", "compare", "flagged", "v"}  # v: a live page's version


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/dashboards/{name}")
    async def dashboard(
        request: Request, name: str, user: Annotated[WebUser, Depends(require_user)]
    ) -> Response:
        project = project_of(request)
        version, view, options = await run_in_threadpool(_versioned, project, user, name, request)
        context = _context(view, options, version, request)
        return page(request, user, "dashboard.html", view.config.title, **context)

    @routes.get("/dashboards/{name}/live")
    async def live(
        request: Request, name: str, user: Annotated[WebUser, Depends(require_user)]
    ) -> Response:
        """What changed since version ``v``: nothing (204), or the tiles, charts and tables."""
        project = project_of(request)
        seen = request.query_params.get("v", "")
        version = await run_in_threadpool(project.dashboards.version, user.principal, name)
        if version == seen:
            return Response(status_code=204, headers={"cache-control": "no-store"})
        version, view, options = await run_in_threadpool(_versioned, project, user, name, request)
        context = _context(view, options, version, request)
        html = shell_of(request).env.get_template("_live.html").render(**context)
        headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
        return Response(html, media_type="text/html", headers=headers)

    @routes.get("/dashboards/{name}/{kind}/{number}.csv")
    async def export(
        request: Request,
        name: str,
        kind: str,
        number: int,
        user: Annotated[WebUser, Depends(require_user)],
    ) -> Response:
        project = project_of(request)

        def rows() -> Answer:
            filters = filters_of(project, user, name, request)
            return project.dashboards.item(user.principal, name, kind, number - 1, filters)

        answer = await run_in_threadpool(rows)
        sink = io.BytesIO()
        pacsv.write_csv(answer.rows, sink)
        filename = f"{name}-{kind}{number}" + (f"-{answer.kpi.name}" if answer.kpi else "")
        return Response(
            sink.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="{filename}.csv"',
                **SECURITY_HEADERS,
            },
        )

    return routes


# -- the filters in the address ------------------------------------------------------------------
def filters_of(project: Any, user: WebUser, name: str, request: Request) -> Filters:
    """The filters the address asks for, over the dashboard's defaults."""
    default: Filters = project.dashboards.default_filters(user.principal, name)
    params = request.query_params
    start = _date(params.get("from"), "from") or default.start
    end = _date(params.get("to"), "to") or default.end
    if start > end:
        raise QueryError(f"from ({start}) is after to ({end})", "swap them")
    grain = params.get("grain", default.grain)
    if grain not in GRAINS:
        raise QueryError(f"unknown grain '{grain}'", f"choose one of {', '.join(GRAINS)}")
    compare = params.get("compare", "1" if default.compare else "0") == "1"
    exclude = params.get("flagged", "exclude" if default.exclude_flagged else "") == "exclude"
    dimensions = tuple(
        (key, value) for key, value in params.multi_items() if key not in _RESERVED and value
    )
    return Filters(start, end, grain, compare, exclude, dimensions)


def _date(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name} '{text}' is not a date", "write it as 2025-01-31") from None


def _view(project: Any, user: WebUser, name: str, request: Request) -> tuple[View, dict[str, Any]]:
    filters = filters_of(project, user, name, request)
    view: View = project.dashboards.view(user.principal, name, filters)
    options: dict[str, list[str]] = {}
    for dimension in view.config.filters.dimensions:
        seen: set[str] = set()
        for _item, answer in [*view.tiles, *view.charts, *view.tables]:
            if dimension in answer.rows.column_names:
                seen.update(shown(v) for v in answer.rows.column(dimension).to_pylist())
        chosen = filters.value_of(dimension)
        if chosen:
            seen.add(chosen)
        options[dimension] = sorted(seen)
    return view, options


def _versioned(
    project: Any, user: WebUser, name: str, request: Request
) -> tuple[str, View, dict[str, Any]]:
    # the version first: a change while the view is answered is seen by the next look
    version: str = project.dashboards.version(user.principal, name)
    return (version, *_view(project, user, name, request))


def _context(view: View, options: dict[str, Any], version: str, request: Request) -> dict[str, Any]:
    """What dashboard.html (and _live.html, its live parts) draws."""
    refresh = view.config.refresh
    asked = [(k, v) for k, v in request.query_params.multi_items() if k != "v"]
    return {
        "view": view,
        "tiles": [_tile(view, _at(view.config.tile_list(), t), t, a) for t, a in view.tiles],
        "charts": [_chart(view, _at(view.config.charts, c), c, a) for c, a in view.charts],
        "tables": [_table(view, _at(view.config.tables, t), t.title, a) for t, a in view.tables],
        "options": options,
        "query": _query(view.filters),
        "flags": view.flags,
        # the address keeps the filters as asked: a default range follows the newest day
        "live": f"/dashboards/{view.name}/live?{urlencode([*asked, ('v', version)])}"
        if refresh
        else None,
        "every": f"{max(parse_duration(refresh).total_seconds(), 1):g}s" if refresh else None,
    }


def _query(filters: Filters, **changes: str | None) -> str:
    """The address's query for these filters, with ``changes`` (None removes a parameter)."""
    params: dict[str, str] = {
        "from": filters.start.isoformat(),
        "to": filters.end.isoformat(),
        "grain": filters.grain,
        "compare": "1" if filters.compare else "0",
    }
    if filters.exclude_flagged:
        params["flagged"] = "exclude"
    params.update(dict(filters.dimensions))
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlencode(params)


# -- what the template draws ---------------------------------------------------------------------
def _records(rows: pa.Table) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts, each value as the API writes it."""
    names = rows.column_names
    return [dict(zip(names, row, strict=True)) for row in json_rows(rows)]


def _tile(view: View, index: int, tile: Any, answer: Answer) -> dict[str, Any]:
    records = _records(answer.rows)
    last = records[-1] if records else {}
    return {
        "number": index + 1,
        "kpi": tile.kpi,
        "title": tile.title or _label(tile.kpi),
        "description": answer.kpi.description if answer.kpi else "",
        "format": tile.format,
        "value": last.get("value"),
        "previous": last.get("previous_value"),
        "change": last.get("change"),
        "change_pct": last.get("change_pct"),
        "period": last.get("period"),
        "spark": [r.get("value") for r in records],
        "note": answer.note,
        "csv": f"/dashboards/{view.name}/tile/{index + 1}.csv?{_query(view.filters)}",
    }


def _chart(view: View, index: int, chart: Chart, answer: Answer) -> dict[str, Any]:
    records = _records(answer.rows)
    kpi = chart.kpi
    spec: dict[str, Any] = {
        "id": f"chart-{index + 1}",
        "kind": chart.kind,
        "format": chart.format,
        "currency": view.config.currency,
        "grain": view.filters.grain,
        "compare": view.filters.compare,
    }
    title = chart.title or _label(kpi)
    omitted = 0
    if chart.kind == "line":
        periods = sorted({r["period"] for r in records if r.get("period")})
        spec["periods"] = periods
        spec["start"] = view.filters.start.isoformat()
        spec["end"] = (view.filters.end + timedelta(days=1)).isoformat()
        groups: dict[str, dict[str, Any]] = {}
        key = chart.by
        for r in records:
            name = shown(r.get(key)) if key else _label(kpi)
            groups.setdefault(name, {})[r["period"]] = r
        ranked = sorted(
            groups, key=lambda g: -sum(abs(v.get("value") or 0) for v in groups[g].values())
        )
        omitted = max(0, len(ranked) - MAX_SERIES)
        spec["series"] = [
            {"name": g, "values": [groups[g].get(p, {}).get("value") for p in periods]}
            for g in ranked[:MAX_SERIES]
        ]
        if view.filters.compare and not key:
            spec["previous"] = [
                groups.get(_label(kpi), {}).get(p, {}).get("previous_value") for p in periods
            ]
        spec["flags"] = [  # the flagged day itself, shaded from its start to the next day's
            {
                "start": f.day.isoformat(),
                "end": (f.day + timedelta(days=1)).isoformat(),
                "reason": f"{f.day}: {f.reason}",
            }
            for f in view.flags
            if f.concerns(kpi)
        ]
        if key:
            title = chart.title or f"{_label(kpi)} by {_words(key)}"
    elif chart.kind == "bar":
        assert chart.by is not None
        drilled = chart.drill is not None and view.filters.value_of(chart.by) is not None
        dimension = chart.drill if drilled and chart.drill else chart.by
        spec["categories"] = [shown(r.get(dimension)) for r in records]
        spec["values"] = [r.get("value") for r in records]
        if view.filters.compare:
            spec["previous"] = [r.get("previous_value") for r in records]
        if chart.drill and not drilled:
            spec["links"] = [
                f"/dashboards/{view.name}?{_query(view.filters, **{chart.by: c})}"
                for c in spec["categories"]
            ]
        title = chart.title or f"{_label(kpi)} by {_words(dimension)}"
        if drilled:
            chosen = view.filters.value_of(chart.by)
            title = f"{_label(kpi)} by {_words(dimension)} in {chosen}"
            spec["back"] = f"/dashboards/{view.name}?{_query(view.filters, **{chart.by: None})}"
    else:
        steps: dict[str, float] = {}
        for r in records:
            steps[str(r.get("step_name"))] = steps.get(str(r.get("step_name")), 0) + (
                r.get("value") or 0
            )
        spec["steps"] = [{"name": n, "value": v} for n, v in steps.items()]
    return {
        "number": index + 1,
        "kpi": kpi,
        "title": title,
        "spec": spec,
        "omitted": omitted,
        "note": answer.note,
        "columns": answer.rows.column_names,
        "rows": json_rows(answer.rows),
        "back": spec.get("back"),
        "csv": f"/dashboards/{view.name}/chart/{index + 1}.csv?{_query(view.filters)}",
    }


def _table(view: View, index: int, title: str, answer: Answer) -> dict[str, Any]:
    return {
        "number": index + 1,
        "title": title,
        "kpi": answer.kpi.name if answer.kpi else None,
        "columns": answer.rows.column_names,
        "types": [_kind(f.type) for f in answer.rows.schema],
        "rows": json_rows(answer.rows),
        "truncated": answer.truncated,
        "note": answer.note,
        "csv": f"/dashboards/{view.name}/table/{index + 1}.csv?{_query(view.filters)}",
    }


def _at(items: list[Any], item: Any) -> int:
    """An item's place in its dashboard file (what its CSV address numbers it by)."""
    return items.index(item)


def _kind(kind: pa.DataType) -> str:
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    return "number" if numeric else "text"


def _words(name: str) -> str:
    return name.replace("_", " ")


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()
