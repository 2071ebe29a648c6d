"""Segment-compatible endpoints: ``POST /v1/batch``, ``/v1/track``, ``/v1/page``, ``/v1/identify`` …

So a site or app already instrumented with a Segment SDK can point its
``host`` at weir. The write key arrives as the basic-auth user name (empty
password), as the SDKs send it, or as ``writeKey`` in the body. Messages are
mapped to sources by ``collector.segment`` in ``weir.yml`` (see
``weir.project.segment``) and handed to the collector: the answer (Segment's
``{"success": true}``) is sent once they are durable in its log.

The key is checked before the body is parsed: a key in the Authorization
header before the body is read, a ``writeKey`` in a plain body (compressed
bodies carry theirs in the header) before anything but the key is read of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from weir.errors import AccessDenied, ProjectError
from weir.governance.keys import WriteKeys
from weir.project.segment import SegmentMapping
from weir.serve.collector import WRITE_KEY, CollectorMetrics, write_key_of
from weir.serve.collector import read_body as read_request_body
from weir.serve.problems import error_responses
from weir.streams.collector import Collector
from weir.streams.segment import (
    SegmentCall,
    body_write_key,
    check_mapping,
    map_messages,
    read_body,
)

CALLS: tuple[SegmentCall, ...] = ("batch", "track", "page", "screen", "identify", "group", "alias")
Receive = Callable[[SegmentCall, Request], Awaitable[JSONResponse]]
_LIMITS = (
    "Limits: collector.max_body_bytes of body, also once inflated (413), 64 levels of nesting "
    "in a message and integers of at most 4,300 digits (400). The write key comes in the "
    "Authorization header or, uncompressed, as writeKey in the body."
)
_WRITE_KEY = {"type": "string", "description": "the write key, when not in the header"}


class Success(BaseModel):
    success: bool


def _body(call: SegmentCall) -> dict[str, object]:
    """The OpenAPI request body of a Segment call: a batch of messages, or one message."""
    if call == "batch":
        schema: dict[str, object] = {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {
                    "type": "array",
                    "items": {},
                    "description": "Segment messages (track, page, screen, identify …); one "
                    "no source takes is kept whole in the unmapped source's quarantine",
                },
                "writeKey": _WRITE_KEY,
            },
        }
    else:
        schema = {
            "type": "object",
            "properties": {"writeKey": _WRITE_KEY},
            "description": f"one Segment {call} message (its type is {call} if it names none)",
        }
    return {
        "required": True,
        "description": f"{_LIMITS} Content-Encoding gzip or deflate is accepted.",
        "content": {"application/json": {"schema": schema}},
    }


def segment_router(app: FastAPI) -> APIRouter:
    """The Segment routes, over the collector ``collector_router`` put on ``app.state``."""
    router = APIRouter(tags=["segment"])
    project = app.state.project
    mapping: SegmentMapping = project.files.config.collector.segment
    if not mapping.enabled:
        return router
    collector: Collector = app.state.collector
    keys: WriteKeys = app.state.write_keys
    metrics: CollectorMetrics = app.state.collector_metrics
    try:
        check_mapping(mapping, project.files.sources)
    except ProjectError:
        if "segment" in project.files.config.collector.model_fields_set:
            raise  # a mapping someone wrote: its mistake is worth a server that says so
        return router  # the default mapping, in a project without web_traffic/crm_interactions
    limit = collector.config.max_body_bytes

    async def receive(call: SegmentCall, request: Request) -> JSONResponse:
        encoding = request.headers.get("content-encoding")
        header_key = write_key_of(request)
        allowed = keys.verify(header_key) if header_key else None
        raw = await read_request_body(request, limit)
        in_body = None if header_key else body_write_key(raw, encoding)
        if allowed is None:
            allowed = keys.verify(in_body)
        body = read_body(raw, encoding, call, limit)
        if header_key is None and body.write_key != in_body:
            # the key found unparsed was not the body's own (one inside a message, say)
            allowed = keys.verify(body.write_key)
        by_source = map_messages(body.messages, mapping, project.files.sources)
        for source in by_source:
            # a target weir.yml's collector.sources leaves out: 404 naming the ones it takes
            collector.source(source)
        refused = sorted(set(by_source) - allowed)
        if refused:
            # checked for every target before anything is logged: a batch is taken whole or not at all
            raise AccessDenied(
                f"this write key may not post to {', '.join(refused)}",
                f"create one that may: weir keys create --source {' --source '.join(sorted(by_source))}",
            )
        receipts = await collector.submit_all(by_source)  # all sources or none
        for source, receipt in receipts.items():
            metrics.received(source, receipt.accepted, receipt.quarantined, receipt.duplicates)
        return JSONResponse({"success": True})

    for call in CALLS:
        router.add_api_route(
            f"/v1/{call}",
            _endpoint(receive, call),
            methods=["POST"],
            summary=f"Segment-compatible {call}",
            dependencies=WRITE_KEY,
            openapi_extra={"requestBody": _body(call)},
            responses={
                200: {
                    "model": Success,
                    "description": 'Durable in the collector\'s log: {"success": true}',
                },
                **error_responses(
                    {
                        400: "Not a Segment message or batch, or over a nesting or number limit",
                        401: "No write key, or an unknown or revoked one",
                        403: "The key may not post to a source a message maps to",
                        404: "A message maps to a source the collector does not take",
                        413: "Too large a body, or too many events",
                        503: "The log or the disk is full: retry after Retry-After",
                    }
                ),
            },
        )
    return router


def _endpoint(receive: Receive, call: SegmentCall) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        return await receive(call, request)

    endpoint.__name__ = f"segment_{call}"
    return endpoint
