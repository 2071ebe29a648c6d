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

from report import record
from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate
from weir.lake import LakeViews
from weir.transform.kinds import OPEN_END, OPEN_START, build_sql
from weir.transform.state import ModelBuild

DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
START = date(2025, 1, 1)
FLOOR_MEMORY = "12GB"


def _landing(work: Path, days: int) -> Path:
    folder = work / f"landing-{days}d"
    if not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, days=days, scale=1.0, seed=11, start=START)
    return folder


def _floor(project: weir.Project) -> float:
    """The same SQL, as CREATE TABLE statements on one connection: no audits, no files, no commits."""
    graph = project.models.graph()
    # the models weir builds: those whose sources were ingested (the example's database and
    # REST sources are not connected here, so their models wait, in weir and in the floor)
    waiting = {p.model for p in project.models.plan() if p.waiting}
    order = [name for name in graph.order() if name not in waiting]
    con = project.engine.writer()  # DuckDB with the lake's tables as views, as the runner has
    # every table stays in memory up to a bound, then spills to disk: a year of the example's
    # tables at once outgrew a 24 GiB machine beside the process's other DuckDB sessions
    spill = project.root / "floor-spill"
    con.execute(f"SET memory_limit = '{FLOOR_MEMORY}'")
    con.execute(f"SET temp_directory = '{spill}'")
    LakeViews(project.lake).show(con, [f"{layer}.{name}" for layer, name in project.lake.tables()])
    for name in order:
        con.execute(f"DROP VIEW IF EXISTS {name}")
    started = time.perf_counter()
    for name in order:
        model = graph.models[name]
        columns = [name for name, _ in con.columns(model.sql, _params(model.sql))]
        sql = build_sql(model, columns)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{model.namespace}"')
        con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}", _params(sql)).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    shutil.rmtree(spill, ignore_errors=True)
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
        models = sum(1 for b in full.builds if b.status == "built")
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
    record(
        f"full build, {days} days",
        f"{full_seconds:.1f} s",
        f"the same SQL on plain DuckDB: {floor:.1f} s",
        f"{full_seconds / floor:.2f}x",
        "<= 1.3x",
        full_seconds / floor <= 1.3,
    )
    record(
        f"one new day after {days - 1} days",
        f"{incremental_seconds:.1f} s",
        f"the full build: {full_seconds:.1f} s",
        f"{share:.1%}",
        "< 10 %",
        share < 0.10,
    )
    table.add_row("    (ingesting that day)", f"{one_day_ingest:.1f}", "", "", "")
    console.print(table)
    for title, result, seconds in (
        ("full build", full, full_seconds),
        ("one new day", incremental, incremental_seconds),
    ):
        _where_the_time_goes(console, title, result.builds, seconds)


def _where_the_time_goes(
    console: Console, title: str, builds: list[ModelBuild], seconds: float
) -> None:
    """The models that took the most of a run, with what each built and why."""
    table = Table(title=f"Where the time goes: {title} ({seconds:.1f} s), the slowest models")
    for column in ("model", "kind", "status", "s", "share", "rows", "interval", "reason"):
        table.add_column(column, justify="right" if column in ("s", "share", "rows") else "left")
    ranked = sorted(builds, key=lambda b: b.seconds or 0.0, reverse=True)
    for build in ranked[:8]:
        table.add_row(
            build.model,
            build.kind,
            build.status,
            f"{build.seconds or 0.0:.2f}",
            f"{(build.seconds or 0.0) / seconds:.0%}",
            f"{build.rows:,}" if build.rows is not None else "",
            " … ".join(build.interval) if build.interval else "",
            build.reason[:48],
        )
    accounted = sum(b.seconds or 0.0 for b in builds)
    table.caption = f"models {accounted:.1f} s of {seconds:.1f} s; the rest is planning and state"
    console.print(table)
