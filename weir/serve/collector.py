"""The event collector's HTTP endpoint: ``POST /collect/v1/{source}``.

A thin front over ``weir.streams.collector``: authenticate the write key, read
the body within its limit, hand the events to ``Collector.submit`` and answer
with its receipt. The collector (one per application) is ``app.state.collector``
and its flusher runs as one of the application's services.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBearer
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from pydantic import BaseModel, Field
from starlette.routing import BaseRoute

from weir.errors import AccessDenied, TooLarge, WeirError
from weir.governance.keys import WriteKeys
from weir.serve.problems import error_responses
from weir.streams.body import body_limit_error, parse_events
from weir.streams.collector import Collector
from weir.streams.flusher import Flusher

# How a tracker authenticates (documented for clients and fuzzers; the route reads the
# header itself, with ``write_key_of``, so that the key is checked before the body is read)
WRITE_KEY = [
    Security(
        HTTPBearer(
            auto_error=False,
            scheme_name="WriteKey",
            description="a write key from `weir keys create --source NAME`, as a bearer token",
        )
    ),
    Security(
        HTTPBasic(
            auto_error=False,
            scheme_name="WriteKeyBasic",
            description="the write key as the user name and no password, as Segment's SDKs send it",
        )
    ),
]

EVENTS_BODY = {
    "required": True,
    "description": (
        "One event (a JSON object), events (a JSON array: each element an event), or NDJSON "
        "(one JSON event per line). An event that breaks the source's contract is quarantined "
        "with its reasons, never dropped: the receipt lists it. Limits: collector.max_body_bytes "
        "of body (413), 64 levels of nesting and integers of at most 4,300 digits (400)."
    ),
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"type": "object", "description": "one event"},
                    {"type": "array", "items": {}, "description": "events, one per element"},
                ]
            }
        },
        "application/x-ndjson": {
            "schema": {"type": "string", "description": "one JSON event per line"}
        },
    },
}


class Rejected(BaseModel):
    index: int = Field(description="the event's position in the request, from 0")
    reasons: list[str]


class Receipt(BaseModel):
    accepted: int = Field(description="events now durable in the log, on their way to the lake")
    quarantined: int = Field(description="events kept in quarantine with their reasons")
    duplicates: int = Field(description="events already received (same key)")
    rejected: list[Rejected] = Field(description="the quarantined events and why")


class CollectorMetrics:
    """Prometheus counters of what the endpoint received, and the flusher's figures at scrape."""

    def __init__(self, registry: CollectorRegistry, collector: Collector) -> None:
        self.collector = collector
        self.events = Counter(
            "weir_collector_events",
            "Events posted to the collector, by source and fate",
            ["source", "fate"],
            registry=registry,
        )
        self._counters: dict[str, tuple[Counter, ...]] = {}
        registry.register(self)  # type: ignore[arg-type]

    def received(self, source: str, accepted: int, quarantined: int, duplicates: int) -> None:
        counters = self._counters.get(source)
        if counters is None:  # a label lookup per request and fate costs more than counting
            counters = self._counters[source] = tuple(
                self.events.labels(source, fate)
                for fate in ("received", "accepted", "quarantined", "duplicate")
            )
        received, accepted_, quarantined_, duplicate = counters
        received.inc(accepted + quarantined + duplicates)
        accepted_.inc(accepted)
        quarantined_.inc(quarantined)
        duplicate.inc(duplicates)

    def collect(self) -> Iterator[Metric]:
        stats = self.collector.stats()
        backlog = GaugeMetricFamily(
            "weir_collector_backlog_events",
            "Events in the log not yet in the lake",
            labels=["source"],
        )
        log_bytes = GaugeMetricFamily(
            "weir_collector_log_bytes", "Bytes of write-ahead log on disk", labels=["source"]
        )
        flushes = SummaryMetricFamily(
            "weir_collector_flush_seconds", "Time to flush a batch of the log", labels=["source"]
        )
        failures = CounterMetricFamily(
            "weir_collector_flush_failures",
            "Flushes of a source that failed (the batch stays in the log)",
            labels=["source"],
        )
        for source, figures in stats.items():
            failures.add_metric([source], float(figures["errors"]))  # type: ignore[arg-type]
            backlog.add_metric([source], float(figures["backlog"]))  # type: ignore[arg-type]
            log_bytes.add_metric([source], float(figures["log_bytes"]))  # type: ignore[arg-type]
            flushes.add_metric(
                [source],
                count_value=int(figures["flushes"]),  # type: ignore[call-overload]
                sum_value=float(figures["flush_seconds_total"]),  # type: ignore[arg-type]
            )
        yield backlog
        yield log_bytes
        yield flushes
        yield failures


def write_key_of(request: Request) -> str | None:
    """The key a tracker sent: ``Bearer <key>``, or basic auth with the key as user name."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0] or None
    return None


async def read_body(
    request: Request,
    limit: int,
    too_large: Callable[[int, int | None], TooLarge] = body_limit_error,
) -> bytes:
    """The body, refused with 413 as soon as it is known to be over ``limit`` bytes.

    Known by its Content-Length before anything is read, or by the bytes
    received while it is read: a body over the limit is never held whole.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, None)
        chunks.append(chunk)
    return b"".join(chunks)


COLLECT_PATH = "/collect/v1/{source}"
_PREFIX = COLLECT_PATH.removesuffix("{source}")
Handler = Callable[[str, Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response] | Response]


class CollectFront:
    """Answers ``POST /collect/v1/{source}`` without the framework's per-route work.

    A tracker posts small requests at a high rate, and resolving a FastAPI route
    (matching every route, solving dependencies, an exit stack per request) cost
    more than the collecting. This middleware sits inside the server's own
    (request metrics, security headers, the 500 answer) and calls the route's one
    handler directly; a WeirError it raises is answered by the application's
    handler for it, exactly as the routed request's would be.
    """

    def __init__(
        self,
        app: Callable[[Any, Any, Any], Awaitable[None]],
        handler: Handler,
        route: BaseRoute,
        errors: Mapping[Any, ErrorHandler],
    ) -> None:
        self.app = app
        self.handler = handler
        self.route = route
        self.errors = errors

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        source = _source_of(scope)
        if source is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the template the request metrics count under
        scope["path_params"] = {"source": source}
        request = Request(scope, receive)
        try:
            response = await self.handler(source, request)
        except WeirError as exc:
            response = await self._answer(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, exc: WeirError) -> Response:
        for kind in type(exc).__mro__:
            handler = self.errors.get(kind)
            if handler is not None:
                answer = handler(request, exc)
                return await answer if inspect.isawaitable(answer) else answer
        raise exc


def _source_of(scope: MutableMapping[str, Any]) -> str | None:
    """The source of a collector request, or None for any other request."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if not path.startswith(_PREFIX):
        return None
    source = path[len(_PREFIX) :]
    return source if source and "/" not in source else None


def collector_router(app: FastAPI) -> APIRouter:
    """The collector's routes; creates the app's collector and adds its flusher to the services."""
    project = app.state.project
    instance = int(getattr(app.state, "collector_instance", 0))
    collector: Collector = project.streams.collector(instance)
    keys: WriteKeys = project.access.write_keys()
    metrics = CollectorMetrics(app.state.registry, collector)
    app.state.collector = collector
    app.state.collector_metrics = metrics
    app.state.write_keys = keys
    command = [sys.executable, "-m", "weir.serve.flush_worker", str(project.root), str(instance)]
    app.state.services.append(
        Flusher(collector, process=command if collector.config.flush_process else None)
    )
    router = APIRouter(tags=["collector"])
    limit = collector.config.max_body_bytes

    async def collect(source: str, request: Request) -> JSONResponse:
        allowed = keys.verify(write_key_of(request))
        collector.source(source)
        if source not in allowed:
            raise AccessDenied(
                f"this write key may not post to {source}",
                f"it may post to: {', '.join(sorted(allowed))}",
            )
        body = await read_body(request, limit)
        events = parse_events(body, request.headers.get("content-type"))
        receipt = await collector.submit(source, events)
        metrics.received(source, receipt.accepted, receipt.quarantined, receipt.duplicates)
        return JSONResponse(
            {
                "accepted": receipt.accepted,
                "quarantined": receipt.quarantined,
                "duplicates": receipt.duplicates,
                "rejected": [
                    {"index": r.index, "reasons": list(r.reasons)} for r in receipt.rejected
                ],
            }
        )

    route = router.post(
        COLLECT_PATH,
        summary="Post events to a source (a JSON object, a JSON array, or NDJSON)",
        dependencies=WRITE_KEY,
        openapi_extra={"requestBody": EVENTS_BODY},
        responses={
            200: {
                "model": Receipt,
                "description": "Every event is in the log; the receipt says what became of each",
            },
            **error_responses(
                {
                    400: "The body is not JSON events, or is over a nesting or number limit",
                    401: "No write key, or an unknown or revoked one",
                    403: "The key may not post to this source",
                    404: "No collected source of that name",
                    413: "Too large a body, or too many events",
                    503: "The log or the disk is full: retry after Retry-After",
                }
            ),
        },
    )(collect)
    del route
    app.add_middleware(
        CollectFront,
        handler=collect,
        route=router.routes[-1],
        errors=app.exception_handlers,
    )
    return router


__all__ = ["WeirError", "collector_router"]
