"""The SQL console (``/sql``): one read-only query as the signed-in user, its rows and its time.

The query goes through ``project.access.query`` — the gateway of ``POST
/api/v1/query`` — so the role's grants, masks and row filters apply and the
audit log records it, allowed or refused. The console posts (the SQL stays out
of addresses and server logs) with the session's CSRF token; Ctrl+Enter (⌘+Enter)
runs it (``static/panel.js``). "Export CSV" posts the same query and answers
its rows as a file, up to ``CSV_ROWS``. Beside the editor: the datasets the
role may read, linked to the catalog.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from weir.errors import QueryError, WeirError
from weir.serve.api import MAX_SQL, json_rows
from weir.serve.web.auth import project_of, require_user
from weir.serve.web.catalog import dataset_href
from weir.serve.web.shell import SECURITY_HEADERS, WebUser, page

User = Annotated[WebUser, Depends(require_user)]
SHOWN_ROWS = 1000  # rows the page shows at most
CSV_ROWS = 100_000  # rows an export holds at most (the API's own limit)
SqlText = Annotated[str, Form(max_length=MAX_SQL)]


def router() -> APIRouter:
    routes = APIRouter(prefix="/sql", include_in_schema=False)

    def console(
        request: Request,
        user: WebUser,
        sql: str = "",
        status: int = 200,
        **outcome: object,
    ) -> Response:
        datasets = project_of(request).catalog.datasets(user.principal, 0, 1000).items
        return page(
            request,
            user,
            "panel/sql.html",
            "SQL console",
            status=status,
            sql=sql,
            datasets=datasets,
            href=dataset_href,
            shown_rows=SHOWN_ROWS,
            **outcome,
        )

    @routes.get("")
    def editor(request: Request, user: User) -> Response:
        return console(request, user)

    @routes.post("")
    def run(request: Request, user: User, sql: SqlText = "") -> Response:
        if not sql.strip():
            return console(request, user, sql, 400, problem=_no_query())
        project = project_of(request)
        started = time.perf_counter()
        try:
            result = project.access.query(sql, user.principal, limit=SHOWN_ROWS)
        except WeirError as exc:  # refused or failed: said beside the query, which stays
            return console(request, user, sql, exc.status, problem=exc)
        table = result.table
        return console(
            request,
            user,
            sql,
            columns=[(f.name, str(f.type), _numeric(f.type)) for f in table.schema],
            rows=json_rows(table),
            row_count=table.num_rows,
            truncated=result.truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            engine_ms=result.check_ms + result.run_ms,
        )

    @routes.post("/csv")
    def export(request: Request, user: User, sql: SqlText = "") -> Response:
        if not sql.strip():
            raise _no_query()
        result = project_of(request).access.query(sql, user.principal, limit=CSV_ROWS)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(result.table.column_names)
        writer.writerows(json_rows(result.table))
        headers = {
            **SECURITY_HEADERS,
            "content-disposition": 'attachment; filename="query.csv"',
        }
        if result.truncated:
            headers["x-weir-truncated"] = "true"
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)

    return routes


def _no_query() -> QueryError:
    return QueryError("there is no query to run", "write a SELECT, e.g. SELECT 1")


def _numeric(kind: object) -> bool:
    text = str(kind)
    return text.startswith(("int", "uint", "float", "double", "decimal"))
