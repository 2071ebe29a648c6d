"""Building the example project's warehouse and marts, against the same SQL as one plain DuckDB script.

(a) Full build: weir's `run` (build, audit, write Parquet, commit to Iceberg,
    record lineage and state) against the floor: the same model SQL run as
    `CREATE TABLE … AS` statements, in the same order, on one DuckDB
    connection over the same staging data, kept in memory. Target: within 1.3x.
(b) Incremental: one more day of data ingested, then `run` again, against the
    full build. Target: under 10 % of the full build.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate
from weir.lake import LakeViews
from weir.transform.kinds import OPEN_END, OPEN_START, build_sql

DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
START = date(2025, 1, 1)


def _landing(work: Path, days: int) -> Path:
    folder = work / f"landing-{days}d"
    if not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, days=days, scale=1.0, seed=11, start=START)
    return folder


def _floor(project: weir.Project) -> float:
    """The same SQL, as CREATE TABLE statements on one connection: no audits, no files, no commits."""
    graph = project.models.graph()
    con = project.engine.writer()  # DuckDB with the lake's tables as views, as the runner has
    LakeViews(project.lake).show(con, [f"{layer}.{name}" for layer, name in project.lake.tables()])
    for name in graph.order():
        model = graph.models[name]
        con.execute(f"DROP VIEW IF EXISTS {name}")
    started = time.perf_counter()
    for name in graph.order():
        model = graph.models[name]
        columns = [name for name, _ in con.columns(model.sql, _params(model.sql))]
        sql = build_sql(model, columns)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model.namespace}"')
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}", _params(sql)).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def _params(sql: str) -> dict[str, str]:
    values = {"start": OPEN_START, "end": OPEN_END}
    return {k: v for k, v in values.items() if f"${k}" in sql}


def run_transform_bench(work: Path, days: int) -> None:
    console = Console(width=160)
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"preparing {days} + 1 days of the reference retailer…")
    landing = _landing(work, days + 1)
    last = (START + timedelta(days=days - 1)).isoformat()
    new_day = (START + timedelta(days=days)).isoformat()
    root = work / "transform-project"
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    for path in landing.rglob("*"):
        match = DAY_IN_NAME.search(path.name)
        if path.is_file() and match and match.group(1) <= last:
            target = root / "landing" / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    with weir.Project(root) as project:
        started = time.perf_counter()
        project.sources.ingest()
        ingest_seconds = time.perf_counter() - started
        console.print(f"ingested {days} days in {ingest_seconds:.1f} s; building…")
        floor = _floor(project)
        started = time.perf_counter()
        _, full = project.run(ingest=False)
        full_seconds = time.perf_counter() - started
        assert full.ok, [(b.model, b.error) for b in full.builds if b.status == "failed"]
        for path in landing.rglob("*"):
            match = DAY_IN_NAME.search(path.name)
            if path.is_file() and match and match.group(1) == new_day:
                target = root / "landing" / path.relative_to(landing)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        started = time.perf_counter()
        project.sources.ingest()
        one_day_ingest = time.perf_counter() - started
        started = time.perf_counter()
        _, incremental = project.run(ingest=False)
        incremental_seconds = time.perf_counter() - started
        assert incremental.ok
        models = len(full.builds)
    table = Table(
        title=f"Transform: the example project's {models} models on {days} days (scale 1.0), 2 cores"
    )
    for column in ("measure", "weir s", "floor s", "ratio", "target"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_row(
        "(a) full build vs plain DuckDB script",
        f"{full_seconds:.1f}",
        f"{floor:.1f}",
        f"{full_seconds / floor:.2f}x",
        "<= 1.3x " + ("met" if full_seconds / floor <= 1.3 else "missed"),
    )
    share = incremental_seconds / full_seconds
    table.add_row(
        "(b) one new day, incremental run vs full build",
        f"{incremental_seconds:.1f}",
        f"{full_seconds:.1f}",
        f"{share:.1%}",
        "< 10 % " + ("met" if share < 0.10 else "missed"),
    )
    table.add_row("    (ingesting that day)", f"{one_day_ingest:.1f}", "", "", "")
    console.print(table)
    for label, run, missed in (
        ("full build", full, full_seconds / floor > 1.3),
        ("one new day", incremental, share >= 0.10),
    ):
        if missed:
            slowest = sorted(run.builds, key=lambda b: -b.seconds)[:5]
            shown = ", ".join(f"{b.model} {b.seconds:.1f} s" for b in slowest)
            console.print(f"{label}: the slowest models: {shown}", markup=False)
