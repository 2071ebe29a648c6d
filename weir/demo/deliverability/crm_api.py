"""The deliverability example's CRM: a small REST API serving the clients' sending domains.

A stdlib ``ThreadingHTTPServer`` on a thread, as a SaaS CRM would answer:
``GET /v1/domains`` with ``Authorization: Bearer <token>`` returns
``{"data": [...], "next_cursor": ...}``, the records ordered by
``(updated_at, domain)``; ``updated_since`` keeps those changed strictly after
it, ``cursor`` (the previous answer's ``next_cursor``) continues a listing and
``limit`` sets the page size (default 50, at most 500). ``next_cursor`` is null
on the last page. The records are read from the JSON file the generator
writes (``<landing>/crm_api/domains.json``) at each request, so a new
generator run is served at once.

Run it on its own with ``python -m weir.demo.deliverability.crm_api LANDING [PORT]``
(the token comes from ``DELIVERABILITY_CRM_TOKEN``, default ``demo-crm-token``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOMAINS_FILE = Path("crm_api") / "domains.json"
DEFAULT_TOKEN = "demo-crm-token"
PAGE, MAX_PAGE = 50, 500


@dataclass(frozen=True)
class CrmApi:
    """A running CRM: its base URL (``http://127.0.0.1:PORT``) and the token it wants."""

    url: str
    token: str


def _records(landing: Path) -> list[dict[str, Any]]:
    path = landing / DOMAINS_FILE
    if not path.exists():
        return []
    records: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return sorted(records, key=lambda r: (str(r.get("updated_at")), str(r.get("domain"))))


def _page(landing: Path, query: dict[str, str]) -> dict[str, Any]:
    records = _records(landing)
    since = query.get("updated_since")
    if since:
        records = [r for r in records if str(r.get("updated_at")) > since]
    after = query.get("cursor")
    if after:
        records = [r for r in records if f"{r.get('updated_at')}|{r.get('domain')}" > after]
    size = max(1, min(MAX_PAGE, int(query.get("limit") or PAGE)))
    page = records[:size]
    last = page[-1] if page else None
    more = len(records) > size and last is not None
    next_cursor = f"{last['updated_at']}|{last['domain']}" if more and last else None
    return {"data": page, "next_cursor": next_cursor}


@contextmanager
def serve_crm(
    landing: Path, token: str = DEFAULT_TOKEN, port: int = 0, host: str = "127.0.0.1"
) -> Iterator[CrmApi]:
    """Serve the CRM of the data generated into ``landing`` until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._answer(401, {"error": "a valid bearer token is required"})
            if parts.path.rstrip("/") != "/v1/domains":
                return self._answer(404, {"error": f"no resource {parts.path}"})
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            try:
                body = _page(landing, query)
            except ValueError as exc:
                return self._answer(400, {"error": str(exc)})
            return self._answer(200, body)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="crm-api", daemon=True)
    thread.start()
    try:
        yield CrmApi(f"http://{host}:{server.server_address[1]}", token)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print("usage: python -m weir.demo.deliverability.crm_api LANDING [PORT]", file=sys.stderr)
        return 2
    token = os.environ.get("DELIVERABILITY_CRM_TOKEN", DEFAULT_TOKEN)
    port = int(argv[1]) if len(argv) == 2 else 8766
    with serve_crm(Path(argv[0]), token, port) as api:
        print(f"CRM API on {api.url}/v1/domains (export DELIVERABILITY_CRM_URL={api.url})")
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
