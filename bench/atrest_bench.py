"""Encryption at rest, measured: the same retailer ingested, built and queried with it off and on.

The reference retailer's files for some days are generated once; each mode
gets a new project on a copy of them. Timed: ingesting every source,
building every model, and a set of queries (a filtered count over
``staging.pos``, a mart's monthly sum, a KPI, the same count at the first
snapshot), each query the median of several runs. Printed beside each
other, with the overhead of ``encryption: {at_rest: true}`` in percent, and
the size of the state folder. Target: ingest and build within +30 %; queries
within +50 % (an encrypted scan reads every row group it names: DuckDB cannot
filter inside one).
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate

START = "2025-01-01"
QUERIES: list[tuple[str, str]] = [
    (
        "filtered count, staging.pos",
        "SELECT count(*) FROM staging.pos WHERE quantity > 2 AND store_id = 3",
    ),
    (
        "monthly sum, marts.sales_daily",
        "SELECT date_trunc('month', day) AS m, sum(net_sales) FROM marts.sales_daily GROUP BY 1",
    ),
]


def _landing(work: Path, days: int, console: Console) -> Path:
    landing = work / f"atrest-landing-{days}d"
    if (landing / ".done").exists():
        return landing
    shutil.rmtree(landing, ignore_errors=True)
    console.print(f"generating {days} days of the reference retailer…")
    generate(landing, days=days, scale=1.0, seed=29, start=date.fromisoformat(START))
    (landing / ".done").write_text("ok", encoding="utf-8")
    return landing


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _median(action: Callable[[], object], repeat: int) -> float:
    action()  # the first run plans and shows the tables: not what a later query pays
    return statistics.median(_seconds(action) for _ in range(repeat))


def _measure(work: Path, landing: Path, on: bool, repeat: int) -> dict[str, float]:
    root = work / f"atrest-{'on' if on else 'off'}"
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    if on:
        with (root / "weir.yml").open("a", encoding="utf-8") as config:
            config.write("\nencryption:\n  at_rest: true\n")
    shutil.copytree(landing, root / "landing", dirs_exist_ok=True, ignore=lambda *_: [".done"])
    figures: dict[str, float] = {}
    with weir.Project(root) as project:
        figures["ingest"] = _seconds(project.sources.ingest)
        built: list[object] = []
        figures["build"] = _seconds(lambda: built.append(project.models.run()))
        first = project.lake.snapshots("staging", "pos")[0].snapshot_id
        for label, sql in QUERIES:
            figures[label] = _median(lambda sql=sql: project.sql(sql), repeat)
        figures["kpi net_sales by month"] = _median(
            lambda: project.kpis.answer("net_sales", grain="month"), repeat
        )
        figures["count at the first snapshot"] = _median(
            lambda: project.sql("SELECT count(*) FROM staging.pos", snapshot=first), repeat
        )
    state = root / ".weir"
    figures["state folder, MB"] = (
        sum(p.stat().st_size for p in state.rglob("*") if p.is_file()) / 1e6
    )
    return figures


def run_atrest_bench(work: Path, days: int = 14, repeat: int = 5) -> None:
    console = Console(width=150)
    work.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("WEIR_MASTER_KEY") and not os.environ.get("WEIR_MASTER_KEY_FILE"):
        master = work / "atrest-master.key"  # kept beside the projects, to open them again
        if not master.exists():
            master.write_text(secrets.token_hex(32), encoding="ascii")
            master.chmod(0o600)
        os.environ["WEIR_MASTER_KEY_FILE"] = str(master)
    landing = _landing(work, days, console)
    off = _measure(work, landing, False, repeat)
    on = _measure(work, landing, True, repeat)
    table = Table(title=f"encryption at rest: {days} days of the reference retailer, seconds")
    for column in ("step", "off", "at_rest: true", "overhead"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in off:
        table.add_row(
            step,
            f"{off[step]:.3f}",
            f"{on[step]:.3f}",
            f"{(on[step] / off[step] - 1) * 100:+.0f} %",
        )
    console.print(table)
    console.print(
        "target: ingest and build within +30 %, queries within +50 % "
        f"(medians of {repeat} runs after a first one)"
    )
