"""The web app ``weir serve`` serves at ``/``: sign-in, the shell, the team dashboards.

``install_web(app)`` adds it to the server's application: the page routers
(one per page module), the static files (``/static``, the vendored ECharts,
htmx and html-to-image with their licences, listed in
``static/vendor/VERSIONS``), the top bar's links, the security headers, and
errors of web paths answered as pages rather than JSON. To add a page: write a module
with a ``router()`` of routes that take ``Depends(require_user)`` (or
``require_operator``/``require_admin``) and answer ``page(...)``, then list its
router and its top-bar link in ``install_web`` below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from weir.errors import NotFoundError, QueryError, WeirError
from weir.serve.web import (
    audit,
    boards,
    catalog,
    explain,
    home,
    panel,
    quality,
    quarantine,
    sql,
)
from weir.serve.web.auth import SignInNeeded, auth_router, current_user, signin_redirect
from weir.serve.web.shell import NavLink, SecurityHeaders, Shell, WebUser, error_page, is_web
from weir.workspace import Project

Handler = Callable[[Request, Any], Awaitable[Response] | Response]


def install_web(app: FastAPI) -> None:
    """Serve the web app from ``app`` (whose ``state.project`` is the project)."""
    project: Project = app.state.project
    static = StaticFiles(packages=[("weir.serve.web", "static")])
    app.mount("/static", static, name="static")
    app.state.web_shell = Shell(
        project_name=project.files.config.name,
        links=[
            # pages of other modules add their link here: NavLink(label, href, shown)
            NavLink("Control panel", "/panel", lambda user: user.operator),
            NavLink("Catalog", "/catalog"),
            NavLink("Quality and alerts", "/quality"),
            NavLink("SQL", "/sql"),
            NavLink("Audit", "/audit", lambda user: user.admin),
        ],
        dashboards=lambda user: _dashboard_links(project, user),
    )
    app.state.web_shell.env.filters.update(panel.FILTERS)
    app.include_router(auth_router())
    app.include_router(home.router())
    app.include_router(boards.router())
    app.include_router(explain.router())
    for pages in (panel, quarantine, catalog, quality, sql, audit):
        app.include_router(pages.router())
    _answer_errors_as_pages(app)
    app.add_middleware(SecurityHeaders)


def _dashboard_links(project: Project, user: WebUser) -> list[tuple[str, str]]:
    return [
        (board.title, f"/dashboards/{name}")
        for name, board in project.dashboards.visible(user.principal).items()
    ]


def _answer_errors_as_pages(app: FastAPI) -> None:
    """Errors on web paths become pages in the shell; elsewhere the one JSON shape stays."""
    for kind in (WeirError, StarletteHTTPException, RequestValidationError):
        original = app.exception_handlers[kind]
        app.exception_handlers[kind] = _as_page(original)
    app.exception_handlers[SignInNeeded] = _sign_in_first
    unexpected = app.exception_handlers[Exception]

    async def failed(request: Request, exc: Exception) -> Response:
        # a browser is shown a page; nothing of the failed code is in either answer
        if is_web(request.url.path) and "text/html" in request.headers.get("accept", ""):
            error = WeirError(
                "the server failed to answer this page",
                "this is a bug in weir: the server log has the details",
            )
            error.status = 500
            return await run_in_threadpool(error_page, request, None, error)
        found = unexpected(request, exc)
        return await found if isinstance(found, Awaitable) else found

    app.exception_handlers[Exception] = failed


def _as_page(original: Handler) -> Handler:
    async def handler(request: Request, exc: Any) -> Response:
        if not is_web(request.url.path) or request.url.path.startswith("/static/"):
            found = original(request, exc)
            return await found if isinstance(found, Awaitable) else found
        if isinstance(exc, StarletteHTTPException):
            what = "no such page" if exc.status_code == 404 else str(exc.detail)
            error: WeirError = NotFoundError(what, "go back to your dashboards")
            error.status = exc.status_code
        elif isinstance(exc, RequestValidationError):
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
            error = QueryError(f"{where}: {first.get('msg', 'invalid')}", "check the address")
        else:
            error = exc
        user = await current_user(request)
        if error.status == 401 and request.method == "GET":
            return signin_redirect(request.url.path)
        return await run_in_threadpool(error_page, request, user, error)

    return handler


async def _sign_in_first(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return signin_redirect(exc.next_path)


__all__ = ["NavLink", "install_web"]
