"""A carrier's parcel-tracking API, served locally from the generator's feed.

The example's ``parcel_hops`` source reads a carrier's REST API. So that the
example runs anywhere without a network, ``weir demo`` (and the tests) start
this small threaded HTTP server on 127.0.0.1, serving the events the
generator wrote (``landing/carrier_api/parcel_hops.jsonl``) like a real
carrier's API would:

``GET /v1/hops?since=SEQ&cursor=SEQ&limit=N`` answers
``{"data": [...], "next_cursor": "SEQ" | null}``: the events whose ``seq``
is after ``since`` (the incremental cursor a client keeps) and after
``cursor`` (the page before), at most ``limit`` (default 100, at most 1000)
of them, in ``seq`` order; ``next_cursor`` is null on the last page. A
``token`` given to the server is required as ``Authorization: Bearer``.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from weir.demo.generate.logistics import API_FILE, API_FOLDER

HOPS_PATH = "/v1/hops"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The environment variable the example's parcel_hops source takes the API's address from.
ADDRESS_VARIABLE = "CARRIER_API_ADDRESS"


def feed_path(landing: Path) -> Path:
    """Where the generator writes the carrier's events under a landing folder."""
    return landing / API_FOLDER / API_FILE


def read_feed(path: Path) -> list[dict[str, Any]]:
    """The events of a feed file (one JSON object a line), in ``seq`` order."""
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return sorted(events, key=lambda e: int(e["seq"]))


class CarrierApi:
    """The API over ``events`` (each with an integer ``seq``); ``start`` serves it, ``stop`` ends it."""

    def __init__(
        self, events: Iterable[dict[str, Any]], token: str | None = None, port: int = 0
    ) -> None:
        self.events = sorted(events, key=lambda e: int(e["seq"]))
        self.seqs = [int(e["seq"]) for e in self.events]
        self.token = token
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``host:port`` the server listens on."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        """The hops endpoint."""
        return f"http://{self.address}{HOPS_PATH}"

    def add(self, events: Iterable[dict[str, Any]]) -> None:
        """Post more events (a later seq each): the carrier's feed grows."""
        for event in events:
            self.events.append(event)
            self.seqs.append(int(event["seq"]))

    def page(self, since: int, cursor: int, limit: int) -> dict[str, Any]:
        """One answer: the events after ``max(since, cursor)``, at most ``limit``."""
        first = bisect.bisect_right(self.seqs, max(since, cursor))
        data = self.events[first : first + limit]
        more = first + limit < len(self.events)
        return {"data": data, "next_cursor": str(data[-1]["seq"]) if data and more else None}

    def start(self) -> CarrierApi:
        self._thread = threading.Thread(
            # a short poll: stop() returns at once, not after the default half second
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="carrier-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.requests += 1
                parts = urlsplit(self.path)
                if parts.path != HOPS_PATH:
                    self._answer(404, {"error": f"no such endpoint {parts.path}; try {HOPS_PATH}"})
                    return
                if api.token is not None and self.headers.get("Authorization") != (
                    f"Bearer {api.token}"
                ):
                    self._answer(401, {"error": "a valid bearer token is required"})
                    return
                query = parse_qs(parts.query)
                try:
                    since = int(query.get("since", ["0"])[0] or 0)
                    cursor = int(query.get("cursor", ["0"])[0] or 0)
                    limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
                except ValueError:
                    self._answer(400, {"error": "since, cursor and limit must be whole numbers"})
                    return
                if not 1 <= limit <= MAX_LIMIT:
                    self._answer(400, {"error": f"limit must be from 1 to {MAX_LIMIT}"})
                    return
                self._answer(200, api.page(since, cursor, limit))

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the demo prints its own progress

        return Handler


@contextmanager
def serving(landing: Path, token: str | None = None) -> Iterator[CarrierApi]:
    """The carrier API over the feed the generator wrote under ``landing``, while in the block."""
    path = feed_path(landing)
    api = CarrierApi(read_feed(path) if path.exists() else [], token).start()
    try:
        yield api
    finally:
        api.stop()
