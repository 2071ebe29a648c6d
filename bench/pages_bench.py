"""The web app's pages: server time per page after its first view, against the 200 ms target.

On a demo project (the reference retailer, a year at scale 1.0 by default:
``--pages-days``, ``--pages-scale``; models built), served by Uvicorn on
localhost, signed in as the admin user (who may open every page): each team
dashboard with its default filters, the control panel (``/panel``,
``/panel/sources``), the catalog, quality, audit and the SQL console. Each page
is asked once (its first view: the caches of the lake version are filled), then
``repeat`` times; the table gives the first view and the median and p95 of the
rest, measured at the client over localhost (the HTTP round trip is part of it),
and whether the p95 is under the target. A live dashboard's look when nothing
changed (``/dashboards/<name>/live``, answered 204) is measured too.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import httpx
from demo_project import built_project
from gateway_bench import _holds, _Server
from rich.console import Console
from rich.table import Table

import weir

TARGET_MS = 200.0
PASSWORD = "benchmark password of the admin"
PAGES = ["/panel", "/panel/sources", "/catalog", "/quality", "/audit", "/sql"]


def _project(work: Path, days: int, scale: float, console: Console) -> Path:
    return built_project(work / f"pages-project-{days}d-{scale:g}", days, 19, console, scale)


def _signed_in(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, "no sign-in form"
    data = {"csrf_token": token.group(1), "user": user, "password": PASSWORD}
    answer = client.post("/signin", data=data)
    assert answer.status_code == 303, answer.text
    return client


def _timed(client: httpx.Client, path: str) -> tuple[float, int, httpx.Response]:
    started = time.perf_counter()
    answer = client.get(path)
    return (time.perf_counter() - started) * 1000, answer.status_code, answer


def run_pages_bench(work: Path, days: int, scale: float, repeat: int = 20) -> None:
    console = Console(width=170)
    work.mkdir(parents=True, exist_ok=True)
    root = _project(work, days, scale, console)
    with weir.Project(root) as project:
        policy = project.access.policy()
        admin = next(
            u
            for u in policy.users()
            for r in policy.roles()
            if policy.is_admin(r) and _holds(policy, u, r)
        )
        project.signin.set_password(admin, PASSWORD)
        boards = sorted(project.dashboards.configs())
        paths = [f"/dashboards/{b}" for b in boards] + PAGES
        rows: list[tuple[str, float, list[float]]] = []
        with _Server(project) as base:
            client = _signed_in(base, admin)
            for path in paths:
                first, status, answer = _timed(client, path)
                assert status == 200, f"{path}: {status} {answer.text[:200]}"
                samples = [_timed(client, path)[0] for _ in range(repeat)]
                rows.append((path, first, samples))
            for board in boards:
                page = client.get(f"/dashboards/{board}").text
                live = re.search(r'id="live"[^>]* hx-get="([^"]+)"', page)
                if live is None:
                    continue
                look = live.group(1).replace("&amp;", "&")
                first, status, _ = _timed(client, look)
                assert status == 204, f"{look}: {status}"
                rows.append(
                    (
                        f"/dashboards/{board}/live (nothing new: 204)",
                        first,
                        [_timed(client, look)[0] for _ in range(repeat)],
                    )
                )
            client.close()
    table = Table(
        title=f"Web pages: server time after the first view, {days} days at scale {scale:g}, "
        f"{repeat} views each; ms (localhost, as admin)"
    )
    for column in ("page", "first view", "median", "p95", f"target < {TARGET_MS:g}"):
        table.add_column(column, justify="left" if column == "page" else "right", no_wrap=True)
    for path, first, samples in rows:
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        table.add_row(
            path,
            f"{first:,.1f}",
            f"{statistics.median(ordered):,.1f}",
            f"{p95:,.1f}",
            "yes" if p95 < TARGET_MS else "NO",
        )
    console.print(table)
