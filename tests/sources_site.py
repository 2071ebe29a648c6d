"""A project whose sources each show one thing ``sources test`` and ``sources discover`` must
say over HTTP (the API and the control panel): shared by the HTTP and the browser tests.

The example retailer with nothing ingested but ``stores`` (one batch, so the sources page has a
last batch and its reconciliation), a landed ``customers`` file not ingested yet (its personal
values are withheld from a sample), and sources that fail each in their own way:

- ``pnl``: a workbook without the sheet its contract names (a held record naming the sheets);
- ``po_refused``: MariaDB (root has no password) reached with a wrong one from the environment;
- ``po_unreachable``: PostgreSQL at a port nothing listens on;
- ``feed``: a REST API whose URL answers an HTML page, not JSON;
- ``budget``: a workbook source whose location is outside ``landing/`` (``finance/*.xlsx``).

``feeds`` serves that HTML page and a JSON API (``/v1/hops``) to discover. A role ``ops``
(user ``otto``) has ``operator: true`` only: it may test, not discover.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openpyxl
from served import GOLDEN

import weir

WRONG_PASSWORD = "n0t-the-Passw0rd-41"  # what the refused source sends
PASSWORD_ENV = "WEIR_T_PROBE_PO_PASSWORD"
API_KEY = "key-in-the-query-93"
HOPS = [
    {"hop_id": 1, "parcel": "P-1", "at": "2026-01-02", "weight": 1.5, "signed": True},
    {"hop_id": 2, "parcel": "P-2", "at": "2026-01-03", "weight": 2, "signed": False},
]

PNL = """\
name: pnl
description: The accounting system's monthly export.
owner: finance
format: xlsx
location: landing/pnl/*.xlsx
key: [month, line]
sheet: {sheets: [Mar]}
columns:
  - {name: month, type: string, nullable: false}
  - {name: line, type: string, nullable: false}
  - {name: amount, type: float}
"""

DATABASE = """\
name: {name}
description: Purchase orders from the shop's database.
format: database
database:
  url: "{url}"
  table: purchase_orders
  mode: incremental
  cursor: updated_at
key: [po_id, updated_at]
time_column: updated_at
columns:
  - {{name: po_id, type: int, nullable: false}}
  - {{name: updated_at, type: epoch, nullable: false}}
"""

FEED = """\
name: feed
description: A carrier's hops, from a URL that answers a web page.
format: rest
location: landing/feed/*.jsonl
key: [hop_id]
rest:
  url: {url}/status.html
  retries: 0
  timeout: 5
columns:
  - {{name: hop_id, type: int, nullable: false}}
"""

BUDGET = """\
name: budget
description: The finance team's budget, exported outside landing/.
owner: finance
format: xlsx
location: finance/*.xlsx
key: [line]
columns:
  - {name: line, type: string, nullable: false}
  - {name: amount, type: float}
"""

OPS_ROLE = """\
  ops:
    description: Runs the pipelines; reads nothing
    operator: true

users:
  otto: {description: Pipeline operator, roles: [ops]}
"""


@dataclass(frozen=True)
class SourcesSite:
    root: Path
    tokens: dict[str, str]  # role → a bearer token of its user
    feeds: str  # the base URL of the HTML page and the JSON API

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


class _Feeds(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/status.html"):
            body, kind = b"<!doctype html><html><body>Service status: up</body></html>", "text/html"
        elif self.path.startswith("/v1/hops"):
            body, kind = json.dumps({"data": HOPS, "next": None}).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:  # quiet
        return


@contextmanager
def feeds() -> Iterator[str]:
    """The HTML page and the JSON API on 127.0.0.1, in a thread: yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def workbook(path: Path, sheet: str, rows: list[list[object]]) -> Path:
    book = openpyxl.Workbook()
    active = book.active
    assert active is not None
    active.title = sheet
    for row in rows:
        active.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def build_sources_site(base: Path, feeds_url: str) -> SourcesSite:
    """The project under ``base``; the password the refused source sends is put in the
    environment (``PASSWORD_ENV``) for the process."""
    os.environ[PASSWORD_ENV] = WRONG_PASSWORD
    root = weir.init_project(base / "shop")
    config = root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    assert "\nusers:\n" in text
    config.write_text(text.replace("\nusers:\n", "\n" + OPS_ROLE, 1), encoding="utf-8")
    sources = root / "sources"
    (sources / "pnl.yml").write_text(PNL, encoding="utf-8")
    (sources / "po_refused.yml").write_text(
        DATABASE.format(
            name="po_refused",
            url=f"mysql+pymysql://root:${{{PASSWORD_ENV}}}@127.0.0.1:3306/test",
        ),
        encoding="utf-8",
    )
    (sources / "po_unreachable.yml").write_text(
        DATABASE.format(
            name="po_unreachable",
            url="postgresql+psycopg://weir@127.0.0.1:1/shop?connect_timeout=5",
        ),
        encoding="utf-8",
    )
    (sources / "feed.yml").write_text(FEED.format(url=feeds_url), encoding="utf-8")
    (sources / "budget.yml").write_text(BUDGET, encoding="utf-8")
    budget = [["Line", "Amount"], ["rent", 1200.0], ["wages", 5400.5]]
    workbook(root / "finance" / "budget_2026.xlsx", "Budget", budget)
    workbook(root / "finance" / "old" / "budget_2025.xlsx", "Budget", budget)
    workbook(root / "landing" / "pnl" / "pnl_2024.xlsx", "Jan", [["month", "line", "amount"]])
    workbook(
        root / "landing" / "exports" / "stores.xlsx",
        "Stores",
        [
            ["Store ID", "Opened", "Revenue"],
            [1, dt.date(2020, 5, 1), 1200.5],
            [2, dt.date(2021, 3, 9), 800],
        ],
    )
    for source, name in (
        ("stores", "stores_2025-01-06.csv"),
        ("customers", "customers_2025-01-06.csv"),
    ):
        target = root / "landing" / source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GOLDEN / source / name, target)
    tokens: dict[str, str] = {}
    with weir.Project(root) as project:
        [batch] = project.sources.ingest(["stores"])
        assert batch.batch_id
        for role, user in (("admin", "ada"), ("ops", "otto"), ("sales", "sam")):
            tokens[role] = project.access.tokens().create(user, role, note="tests")[1]
    return SourcesSite(root, tokens, feeds_url)
