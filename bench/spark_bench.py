"""The example project's full build on Spark (local mode) against DuckDB, from the same lake.

The reference retailer's files for some days are generated and ingested once
(on DuckDB, as always); the models are built on DuckDB, then the same lake is
built again with ``engine: spark`` (a full refresh). Timed apart: starting
Spark (the JVM and its session, paid once per process), one trivial statement
(what every query, audit and count pays on top of its work), and each model.
Spark's fixed costs dominate at these sizes; it is there for data that
outgrows one machine, not to beat DuckDB on a laptop.
"""

from __future__ import annotations

import shutil
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate

START = "2025-01-01"


def _seconds_of(builds: list[Any]) -> dict[str, float]:
    return {b.model: b.seconds for b in builds if b.status == "built"}


def _trivial(session: Any, repeat: int = 5) -> float:
    """The median time of a statement that does nothing: a session's own cost per statement."""
    session.execute("SELECT 1").fetchall()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        session.execute("SELECT 1").fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_spark_bench(
    work: Path, days: int = 7, scale: float = 0.05, master: str = "local[*]"
) -> None:
    console = Console(width=150)
    root = work / f"spark-{days}d-{scale}"
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    console.print(f"generating {days} days of the reference retailer at scale {scale}…")
    generate(root / "landing", days=days, scale=scale, seed=31, start=date.fromisoformat(START))
    figures: dict[str, tuple[float, float]] = {}
    with weir.Project(root) as project:
        project.sources.ingest()
        pos = project.sql("SELECT count(*) AS n FROM staging.pos").to_pylist()[0]["n"]
        started = time.perf_counter()
        result = project.models.run()
        duckdb_build = time.perf_counter() - started
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        duckdb_models = _seconds_of(result.builds)
        with project.engine.writer() as session:
            duckdb_trivial = _trivial(session)
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(f"\nengine: spark\nspark: {{master: '{master}'}}\n")
    with weir.Project(root) as project:
        started = time.perf_counter()
        session = project.model_engine.writer()  # starts the JVM and the SparkSession
        spark_start = time.perf_counter() - started
        spark_trivial = _trivial(session)
        session.close()
        started = time.perf_counter()
        result = project.models.run(full_refresh=True)
        spark_build = time.perf_counter() - started
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        spark_models = _seconds_of(result.builds)
    figures["engine start (JVM + SparkSession)"] = (0.0, spark_start)
    figures["one trivial statement (SELECT 1)"] = (duckdb_trivial, spark_trivial)
    figures[f"full build, {len(spark_models)} models"] = (duckdb_build, spark_build)
    figures["median model"] = (
        statistics.median(duckdb_models.values()),
        statistics.median(spark_models.values()),
    )
    table = Table(
        title=f"the example's full build, {days} days at scale {scale} ({pos:,} POS lines),"
        f" seconds; Spark {master}"
    )
    for column in ("step", "DuckDB", "Spark", "Spark / DuckDB"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step, (duck, spark) in figures.items():
        ratio = f"{spark / duck:.0f}x" if duck > 0 else "-"
        table.add_row(step, f"{duck:.3f}", f"{spark:.3f}", ratio)
    console.print(table)
    slowest = Table(title="the five models Spark took longest on, seconds")
    for column in ("model", "DuckDB", "Spark"):
        slowest.add_column(column, justify="left" if column == "model" else "right")
    for model in sorted(spark_models, key=lambda m: -spark_models[m])[:5]:
        slowest.add_row(model, f"{duckdb_models.get(model, 0):.3f}", f"{spark_models[model]:.3f}")
    console.print(slowest)
    console.print(
        "each model on Spark runs about ten statements (its SELECT, materialized once; a count"
        " and a sample per audit; the lake schema; the Parquet write; the watermark), each paying"
        " Spark's planning and job start: at these sizes that, not the data, is the build's time."
    )
