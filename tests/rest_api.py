"""A small SaaS-like REST API in the test process: it paginates, rate-limits and fails.

``http.server`` on a thread serves ``/parcels/<style>`` for each pagination
style weir knows (``page``, ``offset``, ``cursor``, ``link``), records ordered
by ``(updated_at, id)`` and filtered by ``updated_since`` (strictly later). It
wants a bearer token. Each request takes the next fault of a script (``429``,
``500``, ``timeout``, ``slow``; then none); after a 429 it refuses, with another 429,
anything asked before its ``Retry-After`` has passed, as a real rate limiter
does. ``change_after_first_page`` changes a record once the first page is
served, the way a record moves while a client pages through an API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "s3cret-token"


@dataclass
class Api:
    url: str
    records: list[dict[str, Any]]
    faults: list[str] = field(default_factory=list)
    change_after_first_page: dict[str, Any] | None = None
    retry_after: float = 1.0
    asked: list[str] = field(default_factory=list)  # each request's path and query
    refused_early: int = 0  # requests that came before a Retry-After had passed
    limited_until: float = 0.0


def _cursor(record: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(
        json.dumps([record["updated_at"], record["id"]]).encode()
    ).decode()


@contextmanager
def rest_api(records: list[dict[str, Any]]) -> Iterator[Api]:
    api = Api("", [dict(r) for r in records])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            with lock:
                api.asked.append(self.path)
                fault = api.faults.pop(0) if api.faults else ""
                now = time.monotonic()
                if now < api.limited_until:
                    api.refused_early += 1
                    return self._answer(429, {"error": "slow down"}, {"Retry-After": "1"})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._answer(401, {"error": "unauthorized"})
            if fault == "429":
                with lock:
                    api.limited_until = time.monotonic() + api.retry_after
                return self._answer(
                    429, {"error": "rate limited"}, {"Retry-After": f"{api.retry_after:g}"}
                )
            if fault == "500":
                return self._answer(500, {"error": "internal"})
            if fault == "slow":
                time.sleep(0.2)  # within the client's timeout: answered, late
            if fault == "timeout":
                time.sleep(1.0)  # beyond the client's timeout
                return self._answer(200, {"data": {"items": []}})
            style = parts.path.rsplit("/", 1)[-1]
            with lock:
                page, extra = self._page(style, query)
                if api.change_after_first_page is not None:
                    change = api.change_after_first_page
                    api.change_after_first_page = None
                    for record in api.records:
                        if record["id"] == change["id"]:
                            record.update(change)
            return self._answer(
                200, {"data": {"items": page}, "meta": extra.pop("meta", {})}, extra
            )

        def _page(
            self, style: str, query: dict[str, str]
        ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            since = query.get("updated_since")
            ordered = sorted(
                (r for r in api.records if since is None or r["updated_at"] > since),
                key=lambda r: (r["updated_at"], r["id"]),
            )
            size = int(query.get("per_page", query.get("limit", "2")))
            if style == "page":
                start = (int(query["page"]) - 1) * size
            elif style == "offset":
                start = int(query["offset"])
            elif style == "cursor":
                after = (
                    json.loads(base64.urlsafe_b64decode(query["cursor"]))
                    if "cursor" in query
                    else None
                )
                start = (
                    0
                    if after is None
                    else sum(1 for r in ordered if [r["updated_at"], r["id"]] <= after)
                )
            else:  # link
                start = (int(query.get("page", "1")) - 1) * size
            page = [dict(r) for r in ordered[start : start + size]]
            more = start + size < len(ordered)
            extra: dict[str, Any] = {}
            if style == "cursor":
                extra["meta"] = {"next_cursor": _cursor(page[-1]) if more and page else None}
            if style == "link" and more:
                number = start // size + 2
                rest = "&".join(f"{k}={v}" for k, v in query.items() if k != "page")
                extra["Link"] = f'<{urlsplit(self.path).path}?{rest}&page={number}>; rel="next"'
            return page, extra

        def _answer(self, status: int, body: Any, headers: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.end_headers()
            # the client may have given up waiting (a timeout fault)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
