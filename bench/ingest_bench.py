"""Ingest throughput of POS CSV files against the floor of a plain DuckDB copy to Parquet.

weir reads, tokenises card numbers, applies the contract, de-duplicates,
writes raw + quarantine + staging as Iceberg commits and records the batch.
The floor reads the same files with the contract's types given up front (no
sniffing), skips the lines it cannot parse (losing them silently, which is
what weir exists to prevent) and writes one Parquet file.
Target: >= 1 M rows/s and within 2x of the floor.
"""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path

import duckdb
from ingest_phases import IngestRun, ingest_pos
from report import record
from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate

END = date(2025, 12, 31)  # a fixed period: the same files, and so the same timings, every day

POS_ROWS_PER_DAY_AT_SCALE_1 = 27_400


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * factor)


def _landing(work: Path, rows: int) -> tuple[Path, int]:
    days = max(1, round(rows / POS_ROWS_PER_DAY_AT_SCALE_1))
    folder = work / f"landing-{days}d"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, days=days, scale=1.0, seed=11, end=END)
    return folder / "pos", days


def _floor(files: list[str], out: Path) -> float:
    from weir.ingest.contract import DUCKDB_TYPES
    from weir.project import load_project

    pos = load_project(Path(weir.__file__).parent / "demo" / "example").source("pos")
    # the plain copy's types: epochs stay numbers, as read_csv would detect them
    columns = {c.name: "DOUBLE" if c.type == "epoch" else DUCKDB_TYPES[c.type] for c in pos.columns}
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(
        f"COPY (SELECT * FROM read_csv(?, columns = ?, header = true, auto_detect = false, ignore_errors = true)) "
        f"TO '{out}' (FORMAT parquet)",
        [files, columns],
    )
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def _weir(work: Path, pos: Path, label: str) -> IngestRun:
    root = work / f"project-{label}"
    run = ingest_pos(root, pos)
    shutil.rmtree(root, ignore_errors=True)
    return run


def run_ingest_bench(work: Path, sizes: str) -> None:
    work.mkdir(parents=True, exist_ok=True)
    console = Console(width=160)
    table = Table(title="Ingest: POS CSV → lake (raw + quarantine + staging), 2 cores")
    for column in (
        "rows",
        "files",
        "floor s",
        "floor rows/s",
        "weir s",
        "weir rows/s",
        "weir / floor",
        "target",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    misses: list[str] = []
    for size in sizes.split(","):
        rows = _parse_size(size)
        console.print(f"preparing {size} POS rows…")
        pos, _days = _landing(work, rows)
        files = sorted(str(p) for p in pos.glob("*.csv"))
        floor = _floor(files, work / "floor.parquet")
        run = _weir(work, pos, size)
        seconds, received = run.seconds, run.received
        ratio = seconds / floor
        met = received / seconds >= 1_000_000 and ratio <= 2.0
        table.add_row(
            f"{received:,}",
            f"{len(files):,}",
            f"{floor:.2f}",
            f"{received / floor:,.0f}",
            f"{seconds:.2f}",
            f"{received / seconds:,.0f}",
            f"{ratio:.2f}x",
            "met" if met else "missed",
        )
        record(
            f"batch ingest, {received:,} POS rows",
            f"{received / seconds:,.0f} rows/s",
            f"plain DuckDB copy to Parquet: {received / floor:,.0f} rows/s",
            f"{ratio:.2f}x the copy's time",
            ">= 1 M rows/s and <= 2x",
            met,
        )
        if not met:
            misses.append(f"{size}: weir's time by phase: {run.where_the_time_goes()}")
    console.print(table)
    for miss in misses:
        console.print(miss, markup=False)
