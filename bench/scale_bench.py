"""The scale curve: weir's ingest and full build at growing sizes, beside their floors, and a chart.

For each size (POS rows; ``--scale-sizes``, e.g. 1M,10M,60M), the reference
retailer is generated at scale 1.0 for as many days as that takes (from 365
days on, the scale grows instead, so 60 M rows are a year at scale ~6):

- ingest: the POS files into a new project (``Sources.ingest``), beside the
  floor of the same files copied to Parquet by plain DuckDB (``ingest_bench._floor``);
- full build: the other sources ingested too (not timed), then
  ``Project.run(ingest=False)`` of the example's models, beside the same SQL as
  plain DuckDB ``CREATE TABLE`` statements (``transform_bench._floor``).

The chart (``docs/benchmarks-scale.png`` when the doc is written) is drawn by
matplotlib in the tools venv (``toolvenv.DBT_SQLMESH``), never weir's own.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ingest_bench import POS_ROWS_PER_DAY_AT_SCALE_1, _parse_size
from ingest_bench import _floor as copy_floor
from ingest_phases import ingest_pos
from rich.console import Console
from rich.table import Table
from toolvenv import DBT_SQLMESH, timed, tools_venv
from transform_bench import _floor as build_floor

import weir
from weir.demo.generate import generate

HERE = Path(__file__).resolve().parent
START = date(2024, 1, 1)
MAX_DAYS = 365
INGEST_TARGET = 2.0  # within 2x of the floor, as the ingest benchmark
BUILD_TARGET = 1.3  # as the transform benchmark


@dataclass
class Point:
    size: str
    pos_rows: int
    rows: int  # every source's records, which the build reads
    days: int
    scale: float
    ingest: float
    ingest_floor: float
    build: float
    build_floor: float
    slowest: str
    phases: str
    peak_rss: int  # weir's process while it ingested and built (bytes), before the floors ran


def _period(rows: int) -> tuple[int, float]:
    days = max(1, round(rows / POS_ROWS_PER_DAY_AT_SCALE_1))
    if days <= MAX_DAYS:
        return days, 1.0
    return MAX_DAYS, rows / (POS_ROWS_PER_DAY_AT_SCALE_1 * MAX_DAYS)


class _PeakRss:
    """The highest resident memory of this process while a with-block runs (sampled)."""

    def __enter__(self) -> _PeakRss:
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(work: Path, size: str, console: Console) -> Point:
    days, scale = _period(_parse_size(size))
    landing = work / f"scale-landing-{days}d-x{scale:g}"
    if not (landing / "manifest.json").exists():
        shutil.rmtree(landing, ignore_errors=True)
        console.print(f"generating {days} days at scale {scale:g}…")
        generate(landing, days=days, scale=scale, seed=11, start=START)
    root = work / "scale-project"
    console.print(f"{size}: ingesting POS, then the other sources, then the full build…")
    with _PeakRss() as memory:
        pos = ingest_pos(root, landing / "pos")
        with weir.Project(root) as project:
            others = project.sources.ingest(path=landing)
            received = {b.source: b.counts.received for b in others if b.source != "pos"}
            received["pos"] = pos.received
            started = time.perf_counter()
            _, result = project.run(ingest=False)
            build = time.perf_counter() - started
    with weir.Project(root) as project:
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        slowest = sorted(result.builds, key=lambda b: -b.seconds)[:3]
        floor_build = build_floor(project)
    pos_files = sorted(str(p) for p in (landing / "pos").glob("*.csv"))
    pos_floor = copy_floor(pos_files, work / "scale-floor.parquet")
    rows = sum(received.values())
    shutil.rmtree(root, ignore_errors=True)
    return Point(
        size,
        pos.received,
        rows,
        days,
        scale,
        pos.seconds,
        pos_floor,
        build,
        floor_build,
        ", ".join(f"{b.model} {b.seconds:.1f} s" for b in slowest),
        pos.where_the_time_goes(),
        memory.peak,
    )


def run_scale_bench(work: Path, sizes: str, chart: Path | None = None) -> None:
    console = Console(width=160)
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    points = [measure(work, size, console) for size in sizes.split(",")]
    table = Table(
        title="Scale: POS ingested, then the full build of the example's models over every source, 2 cores"
    )
    for column in (
        "POS rows",
        "all rows",
        "days, scale",
        "ingest s",
        "POS rows/s",
        "floor s",
        "ingest ÷ floor",
        "build s",
        "floor s",
        "build ÷ floor",
        "weir peak RSS",
        "target",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    misses = []
    for p in points:
        ingest_ratio, build_ratio = p.ingest / p.ingest_floor, p.build / p.build_floor
        met = ingest_ratio <= INGEST_TARGET and build_ratio <= BUILD_TARGET
        table.add_row(
            f"{p.pos_rows:,}",
            f"{p.rows:,}",
            f"{p.days}, {p.scale:g}",
            f"{p.ingest:.1f}",
            f"{p.pos_rows / p.ingest:,.0f}",
            f"{p.ingest_floor:.1f}",
            f"{ingest_ratio:.2f}x",
            f"{p.build:.1f}",
            f"{p.build_floor:.1f}",
            f"{build_ratio:.2f}x",
            f"{p.peak_rss / 2**30:.1f} GiB",
            "met" if met else "missed",
        )
        if ingest_ratio > INGEST_TARGET:
            misses.append(f"{p.size}: POS ingest by phase: {p.phases}")
        if build_ratio > BUILD_TARGET:
            misses.append(f"{p.size}: the build's slowest models: {p.slowest}")
    console.print(table)
    console.print(
        f"targets: ingest within {INGEST_TARGET}x of the floor (plain DuckDB copy of the POS "
        "files to Parquet), full build within "
        f"{BUILD_TARGET}x of the same SQL as plain DuckDB CREATE TABLE statements."
    )
    for miss in misses:
        console.print(miss, markup=False)
    if chart is not None:
        _chart(work, points, chart, console)


def _chart(work: Path, points: list[Point], out: Path, console: Console) -> None:
    venv = tools_venv(work, DBT_SQLMESH, console)
    if "matplotlib" in venv.errors:
        console.print(f"no chart: {venv.errors['matplotlib']}", markup=False)
        return
    data = {
        "title": "weir on 2 cores: POS ingest and the full build, beside their floors (log-log)",
        "series": {
            "weir ingest": [[p.pos_rows, p.ingest] for p in points],
            "floor: plain DuckDB copy": [[p.pos_rows, p.ingest_floor] for p in points],
            "weir full build": [[p.pos_rows, p.build] for p in points],
            "floor: plain DuckDB script": [[p.pos_rows, p.build_floor] for p in points],
        },
    }
    spec = work / "scale-points.json"
    spec.write_text(json.dumps(data), encoding="utf-8")
    drawn = timed(
        [venv.python, str(HERE / "peer_scripts" / "scale_chart.py"), str(spec), str(out)], work
    )
    console.print(
        f"chart: {out.name}" if drawn.error is None else f"no chart: {drawn.error}", markup=False
    )
