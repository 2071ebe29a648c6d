"""The home page: the dashboards the signed-in user's role may open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from weir.serve.web.auth import project_of, require_user
from weir.serve.web.shell import WebUser, page


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/")
    async def home(request: Request, user: Annotated[WebUser, Depends(require_user)]) -> Response:
        project = project_of(request)
        boards = await run_in_threadpool(project.dashboards.visible, user.principal)
        return page(request, user, "home.html", "Home", boards=boards)

    return routes
