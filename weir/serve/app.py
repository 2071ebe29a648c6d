"""The HTTP front end of one project: the API, the event collector, health and metrics.

``create_app(project)`` builds the ASGI application that ``weir serve`` runs
with Uvicorn (and that tests drive in-process through ``httpx.ASGITransport``).
Every error, whatever raised it, leaves as one JSON shape::

    {"error": {"status": 404, "code": "not_found", "message": "...", "fix": "..."}}

Long-running work that belongs to the server (the collector's flusher, stream
consumers) is a ``Service``: started with the application, stopped with it.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from weir.errors import Overloaded, WeirError
from weir.serve.alerts import alerts_router
from weir.serve.api import api_router
from weir.serve.collector import collector_router
from weir.serve.lifecycle import lifecycle_router
from weir.serve.problems import error_body
from weir.serve.quality import quality_router
from weir.serve.runs import runs_router
from weir.serve.segment import segment_router
from weir.serve.sources import sources_router
from weir.serve.subjects import subjects_router
from weir.serve.web import install_web
from weir.workspace import Project

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Service(Protocol):
    """Background work the server owns (a flusher, a consumer)."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def error_response(exc: WeirError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(
        error_body(exc.status, exc.code, exc.what, exc.fix, **exc.details()),
        exc.status,
        headers=headers,
    )


class RequestMetrics:
    """Counts and times every request, by route template (not raw path: bounded labels)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "weir_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "weir_http_request_seconds",
            "Time to answer an HTTP request, by route",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.requests.labels(method, template, str(status)).inc()
            self.seconds.labels(method, template).observe(time.perf_counter() - started)


# weir exports its own Prometheus metrics; FastAPI's OpenTelemetry bridge (in the releases
# that have one) would look up the global providers on every request, a tenth of the
# collector's time, for nothing
_NO_FRAMEWORK_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(project: Project, services: Sequence[Service] = ()) -> FastAPI:
    """The ASGI application serving ``project``; ``services`` run while it runs."""
    app = _application(project, services)
    # the routes of each part of the server are added here, one call each
    app.include_router(api_router(project))
    app.include_router(collector_router(app))
    app.include_router(segment_router(app))
    app.include_router(quality_router(app))
    app.include_router(alerts_router(app))
    app.include_router(runs_router(app))
    app.include_router(lifecycle_router(app))
    app.include_router(subjects_router(app))
    app.include_router(sources_router(app))
    install_web(app)  # the web app at /: sign-in, the shell, the team dashboards
    app.add_middleware(RequestMetrics, registry=app.state.registry)
    return app


def create_collector_app(project: Project, instance: int) -> FastAPI:
    """The event collector alone (and /healthz, /metrics): one of ``weir collect``'s processes.

    ``instance`` numbers the process among the project's collectors: its logs
    are its own (``.weir/wal-N/``), and its flusher moves them into the lake.
    """
    app = _application(project, ())
    app.state.collector_instance = instance
    app.include_router(collector_router(app))
    app.add_middleware(RequestMetrics, registry=app.state.registry)
    return app


def _application(project: Project, services: Sequence[Service]) -> FastAPI:
    """The application's frame: its services' lifespan, error answers, /healthz and /metrics."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        started: list[Service] = []
        project.audit.record_definition()  # what the server starts with is on the record
        try:
            for service in _app.state.services:  # those given, and those the routes added
                service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                service.stop()

    app = FastAPI(
        title="weir",
        summary="The HTTP API of a weir project",
        version=_version(),
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        **_NO_FRAMEWORK_TELEMETRY,
    )
    registry = CollectorRegistry()
    app.state.project = project
    app.state.registry = registry
    app.state.services = list(services)

    @app.exception_handler(WeirError)
    async def weir_error(_request: Request, exc: WeirError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "where": ".".join(str(part) for part in problem.get("loc", ())),
                "problem": str(problem.get("msg", "")),
            }
            for problem in exc.errors()
        ]
        first = problems[0] if problems else {"where": "request", "problem": "invalid"}
        message = f"{first['where']}: {first['problem']}"
        return JSONResponse(
            error_body(
                422,
                "invalid_request",
                message,
                "see the OpenAPI document at /api/v1/openapi.json",
                problems=problems,
            ),
            422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # the exception is logged by the server (Starlette raises it again after this
        # answer); the client is told nothing of the code that failed
        return JSONResponse(
            error_body(
                500,
                "internal",
                "the server failed to answer this request",
                "this is a bug in weir: the server log has the details",
            ),
            500,
        )

    @app.get("/healthz", tags=["operations"], summary="Liveness: the server answers")
    async def healthz() -> dict[str, object]:
        answer: dict[str, object] = {"status": "ok", "project": project.files.config.name}
        instance = getattr(app.state, "collector_instance", None)
        if instance is not None:  # one of several collector processes: which one answered
            answer["collector"] = {"instance": instance, "pid": os.getpid()}
        return answer

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("weir")
    except PackageNotFoundError:
        return "0"
