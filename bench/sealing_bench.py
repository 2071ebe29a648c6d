"""What sealing personal data per subject (``privacy: {encrypt_pii: true}``) costs.

The same customers file (the CRM source of the example project: five personal
fields per row, one subject per row) is ingested into two projects, one with
sealing off and one with it on, and PII-heavy queries are run on each through
the gateway, as an admin (``pii: true``, clear values) and as a role whose
personal columns are hashed:

- ingest: rows/s of one batch (raw, staging; every personal field sealed
  under the key of the customer on its row: one AES-GCM per field, and one
  new key per customer, made in one transaction);
- queries: the median of ``repeat`` runs (after one warm-up run), each
  opening every e-mail of the table (one AES-GCM per value, keys read in bulk).
"""

from __future__ import annotations

import csv
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate.extracts import CUSTOMER_COLUMNS

QUERIES = {
    "count(DISTINCT email)": "SELECT count(DISTINCT email) AS n FROM staging.customers",
    "filter on e-mail, 3 PII columns": "SELECT email, phone, last_name FROM staging.customers"
    " WHERE email LIKE '%7@example.net'",
    "KPI-like, no PII column": "SELECT country, count(*) AS n FROM staging.customers GROUP BY 1",
}


def _landing(folder: Path, rows: int) -> Path:
    path = folder / "customers" / "customers_2025-01-06.csv"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(CUSTOMER_COLUMNS)
        for i in range(1, rows + 1):
            out.writerow(
                [
                    i,
                    f"First{i}",
                    f"Last{i}",
                    f"customer{i}@example.net",
                    f"+44 7700 {i:06d}",
                    f"{i} High Street, Leeds, LS1 {i % 10}AB",
                    "GB",
                    1701561600.0 + i,
                ]
            )
    return path


def _project(root: Path, landing: Path, sealed: bool) -> Path:
    weir.init_project(root)
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["privacy"]["encrypt_pii"] = sealed
    config["roles"]["reviewer"] = {"grants": ["staging.customers"]}
    config["users"]["rev"] = {"roles": ["reviewer"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    target = root / "landing" / "customers"
    target.mkdir(parents=True, exist_ok=True)
    (target / landing.name).symlink_to(landing)
    return root


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run_sealing_bench(work: Path, rows: int, repeat: int = 5) -> None:
    console = Console(width=150)
    folder = work / f"sealing-{rows}"
    landing = _landing(folder / "landing", rows)
    ingest: dict[bool, float] = {}
    queries: dict[tuple[str, str, bool], float] = {}
    for sealed in (False, True):
        root = folder / ("sealed" if sealed else "plain")
        if root.exists():
            shutil.rmtree(root)
        _project(root, landing, sealed)
        with weir.Project(root) as project:
            started = time.perf_counter()
            (result,) = project.sources.ingest(["customers"])
            seconds = time.perf_counter() - started
            assert result.counts.accepted == rows, result.counts
            ingest[sealed] = rows / seconds
            for name, sql in QUERIES.items():
                for user in ("ada", "rev"):
                    queries[(name, user, sealed)] = _median_ms(
                        lambda sql=sql, user=user: project.access.query(sql, user), repeat
                    )
    table = Table(title=f"Sealed personal data: {rows:,} customers, 2 cores")
    for column in ("measure", "sealing off", "sealing on", "on / off"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row(
        "ingest, rows/s",
        f"{ingest[False]:,.0f}",
        f"{ingest[True]:,.0f}",
        f"{ingest[False] / ingest[True]:.1f}x slower",
    )
    for name in QUERIES:
        for user, who in (("ada", "pii role"), ("rev", "masked role")):
            off, on = queries[(name, user, False)], queries[(name, user, True)]
            table.add_row(
                f"{name}, {who}, ms (median of {repeat})",
                f"{off:,.1f}",
                f"{on:,.1f}",
                f"{on / off:.1f}x",
            )
    console.print(table)
