"""Spark builds the example project's models as DuckDB does: every table, row for row.

One project is built on DuckDB, then the same lake is built again on Spark
(``engine: spark``, a full refresh): every warehouse table and mart must hold
the same rows (floats to 1e-6), and every golden KPI its hand-worked value.
A second project is built on Spark day by day (incremental, late files
included) and must end with the same rows. Models Spark cannot run with
their meaning are refused by ``weir plan``, with file, line and construct.
Needs Java 17 and PySpark (the ``dev`` extra): it fails, not skips, without.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.fs as fs
import pytest
from click.testing import CliRunner
from golden.check import assert_answer
from golden.expected import EXPECTED

import weir
from weir.cli.main import cli
from weir.engine.dialects import untranslatable
from weir.errors import ProjectError

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
# the incremental project gets the files up to this day first, then the rest
FIRST_PART_ENDS = "2025-01-15"
SPARK = "\nengine: spark\nspark: {master: 'local[2]', shuffle_partitions: 2}\n"

Rows = list[tuple[Any, ...]]


def _use_spark(root: Path) -> None:
    config = root / "weir.yml"
    config.write_text(config.read_text(encoding="utf-8") + SPARK, encoding="utf-8")


def _tables(
    project: weir.Project, models: set[str] | None = None
) -> dict[str, tuple[list[str], Rows]]:
    """Every model's columns and rows (sorted: the order of rows is no part of a table)."""
    out = {}
    for model in sorted(models if models is not None else project.models.graph().models):
        table = project.sql(f"SELECT * FROM {model}")
        rows = sorted((tuple(r.values()) for r in table.to_pylist()), key=_order)
        out[model] = (table.schema.names, rows)
    return out


def _order(row: tuple[Any, ...]) -> str:
    # floats that differ in their last bits (the order a sum added them in) sort alike
    return repr(tuple(round(v, 6) if isinstance(v, float) else v for v in row))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b) and type(a) is type(b)


def _assert_same_tables(
    expected: dict[str, tuple[list[str], Rows]], got: dict[str, tuple[list[str], Rows]], how: str
) -> None:
    assert sorted(got) == sorted(expected)
    for model, (columns, rows) in expected.items():
        got_columns, got_rows = got[model]
        assert got_columns == columns, f"{model} ({how}): columns {got_columns} != {columns}"
        assert len(got_rows) == len(rows), (
            f"{model} ({how}): {len(got_rows)} rows, DuckDB built {len(rows)}"
        )
        for want, have in zip(rows, got_rows, strict=True):
            if not all(_same(x, y) for x, y in zip(want, have, strict=True)):
                differing = {
                    c: (x, y)
                    for c, x, y in zip(columns, want, have, strict=True)
                    if not _same(x, y)
                }
                pytest.fail(
                    f"{model} ({how}) differs first at row {dict(zip(columns, have, strict=True))}:"
                    f" (expected, got) {differing}"
                )


def _failed(result: Any) -> list[tuple[str, str | None]]:
    return [(b.model, b.error) for b in result.builds if b.status == "failed"]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[weir.Project, dict[str, tuple[list[str], Rows]], dict[str, tuple[list[str], Rows]]]:
    """The golden project built on DuckDB (its tables), then again on Spark from the same lake."""
    root = weir.init_project(tmp_path_factory.mktemp("parity") / "shop")
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, _failed(result)
        # the logistics models wait for the carrier's API and the shop's database
        built = {b.model for b in result.builds if b.status == "built"}
        on_duckdb = _tables(project, built)
    _use_spark(root)
    project = weir.Project(root)
    result = project.models.run(full_refresh=True)
    assert result.ok, _failed(result)
    assert {b.model for b in result.builds if b.status == "built"} == built
    return project, on_duckdb, _tables(project, built)


def test_spark_builds_every_table_as_duckdb_does(
    built: tuple[weir.Project, dict[str, Any], dict[str, Any]],
) -> None:
    _, on_duckdb, on_spark = built
    # every model but the logistics ones (no carrier API or shop database here)
    assert len(on_duckdb) == 30
    _assert_same_tables(on_duckdb, on_spark, "built on Spark")


def test_every_golden_kpi_from_the_tables_spark_built(
    built: tuple[weir.Project, dict[str, Any], dict[str, Any]],
) -> None:
    project, _, _ = built
    for entry in EXPECTED:
        assert_answer(project, entry)


def test_spark_commits_with_the_lake_s_summary_and_lineage(
    built: tuple[weir.Project, dict[str, Any], dict[str, Any]],
) -> None:
    project, _, _ = built
    (snapshot, *_) = reversed(project.lake.snapshots("warehouse", "fact_sales_lines"))
    assert snapshot.summary["weir.model"] == "warehouse.fact_sales_lines"
    assert "staging.pos" in snapshot.summary["weir.inputs"]
    lineage = project.models.lineage("warehouse.fact_sales_lines.net_sales")
    assert {"staging.pos.revenue", "staging.pos.discount_applied"} <= set(lineage["upstream"])
    # the day-partitioned model's files are one folder per day, as DuckDB writes them
    table = project.lake.reading("warehouse", "fact_sales_lines")
    planned = [task.file.file_path for task in table.scan().plan_files()]
    assert planned and all("/_day=" in path for path in planned), planned


def test_incremental_builds_on_spark_equal_the_full_build(
    built: tuple[weir.Project, dict[str, Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """The first days built on DuckDB, the later ones added on Spark: one lake, either engine.

    Spark's incremental run reads what the first run committed (watermarks, SCD2
    current versions) and merges only the new days into it.
    """
    _, on_duckdb, _ = built
    root = weir.init_project(tmp_path / "daily")
    later = []
    for path in sorted(GOLDEN.rglob("*")):
        found = DAY_IN_NAME.search(path.name)
        if not path.is_file():
            continue
        if found and found.group(1) > FIRST_PART_ENDS:
            later.append(path)
            continue
        target = root / "landing" / path.relative_to(GOLDEN)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, _failed(result)
    _use_spark(root)
    with weir.Project(root) as project:
        for path in later:
            target = root / "landing" / path.relative_to(GOLDEN)
            shutil.copy2(path, target)
        _, result = project.run()
        assert result.ok, _failed(result)
        # the second run built the new days only (from the watermark less the lookback)
        assert any(b.interval and b.interval[0] > "1970-01-01" for b in result.builds)
        _assert_same_tables(
            on_duckdb, _tables(project, set(on_duckdb)), "built on Spark day by day"
        )


def test_duckdb_meanings_survive_transpilation(
    built: tuple[weir.Project, dict[str, Any], dict[str, Any]],
) -> None:
    """The constructs SQLGlot alone would carry over with another meaning, run on both engines."""
    project, _, _ = built
    sql = (
        "SELECT isodow(DATE '2025-01-05') AS sunday, isodow(DATE '2025-01-06') AS monday,"
        " dayofweek(DATE '2025-01-05') AS dow, dayname(DATE '2025-01-06') AS name,"
        " CAST(isoyear(DATE '2024-12-30') AS INTEGER) AS iso_year,"
        " 7 / 0 AS by_zero, -7 / 0 AS below_zero, 7 / 2 AS half,"
        " CAST(7 AS DECIMAL(10, 2)) / 4 AS decimal_quarter,"
        " epoch_us(TIMESTAMPTZ '2025-01-01 00:00:01+00') AS micros"
    )
    with project.engine.writer() as duck, project.model_engine.writer() as spark:
        on_duckdb = duck.arrow(sql).to_pylist()
        on_spark = spark.arrow(sql).to_pylist()
    assert on_duckdb == [
        {
            "sunday": 7,
            "monday": 1,
            "dow": 0,
            "name": "Monday",
            "iso_year": 2025,
            "by_zero": math.inf,  # DuckDB divides as IEEE 754 does; Spark would fail or say NULL
            "below_zero": -math.inf,
            "half": 3.5,
            "decimal_quarter": 1.75,
            "micros": 1735689601000000,
        }
    ]
    assert on_spark == on_duckdb


def test_plan_refuses_what_spark_cannot_run_with_its_meaning(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    _use_spark(root)
    model = root / "models" / "marts" / "odd.sql"
    model.write_text(
        "/*\nkind: full\n*/\nSELECT\n    day,\n    epoch_ns(CAST(day AS TIMESTAMP)) AS ns\n"
        "FROM warehouse.dim_date\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--project", str(root), "plan"])
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: engine: spark cannot run these models as written:"), line
    assert "models/marts/odd.sql line 6: epoch_ns(...)" in line, line
    assert line.count(".sql line") == 1, line  # the example's own models all carry over
    assert "engine: duckdb" in line  # the way out
    # nothing was built, and the run refuses the same way before it starts
    result = CliRunner().invoke(cli, ["--project", str(root), "run"])
    assert result.exit_code == 1
    assert "models/marts/odd.sql line 6" in result.stderr


def test_engine_spark_refuses_encrypted_lakes(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    config = root / "weir.yml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\nengine: spark\nencryption: {at_rest: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(ProjectError, match="engine: spark cannot read or write"):
        weir.Project(root)


@pytest.mark.parametrize(
    ("sql", "construct", "line"),
    [
        ("SELECT 1 AS a,\n  epoch_ns(now()) AS b", "epoch_ns(...)", 2),  # now() carries over
        ("SELECT * EXCLUDE (a)\nFROM t", "* EXCLUDE (a)", 1),
        ("SELECT a FROM t\nUNION ALL BY NAME\nSELECT a FROM u", "UNION BY NAME", 2),
        ("SELECT quantile_disc(x, 0.5) FROM t", "percentile_disc(...)", 1),
        ("SELECT\n\n j ->> '$.a' FROM t", "->> (JSON path)", 3),
    ],
)
def test_what_spark_would_run_with_another_meaning_is_named(
    sql: str, construct: str, line: int
) -> None:
    (problem,) = untranslatable(sql, "spark")
    assert (problem.construct, problem.line) == (construct, line), problem
    assert untranslatable(sql, "duckdb") == []


def test_spark_builds_a_lake_on_object_storage_as_duckdb_builds_one_on_disk(
    tmp_path: Path, s3: Any
) -> None:
    """The scale-out shape: the lake on an S3 server, the models on Spark.

    Spark reads the snapshot's files through the lake's file system (PySpark has no S3
    connector of its own) and writes on local disk what the lake uploads and commits.
    The stores, products and three days of POS of the golden shop: the models those
    feed are built, the others wait for their sources (no data yet).
    """
    sources = {"pos", "stores", "products"}

    def shop(name: str) -> Path:
        root = weir.init_project(tmp_path / name)
        for path in sorted(GOLDEN.rglob("*")):
            day = DAY_IN_NAME.search(path.name)
            if path.is_file() and path.parent.name in sources and day and day[1] <= "2025-01-08":
                target = root / "landing" / path.relative_to(GOLDEN)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        return root

    def built_tables(project: weir.Project) -> dict[str, tuple[list[str], Rows]]:
        _, result = project.run()
        assert result.ok, _failed(result)
        built = {b.model for b in result.builds if b.status == "built"}
        assert {"warehouse.dim_store", "marts.sales_daily"} <= built
        return _tables(project, built)

    with weir.Project(shop("on_disk")) as project:
        on_disk = built_tables(project)
    remote = shop("on_s3")
    location = s3.location("spark")
    (remote / "weir.yml").write_text(
        (remote / "weir.yml").read_text(encoding="utf-8") + f"\nlake: {location}\n" + SPARK,
        encoding="utf-8",
    )
    with weir.Project(remote) as project:
        on_s3 = built_tables(project)
        where = project.lake.storage.describe()
    assert where.startswith("s3://")
    bucket = s3.filesystem()
    written = [
        f.path
        for f in bucket.get_file_info(
            fs.FileSelector(location.removeprefix("s3://"), recursive=True)
        )
        if f.path.endswith(".parquet")
    ]
    assert any("/marts/sales_daily/" in path for path in written)
    assert not list((remote / ".weir").rglob("*.parquet"))  # nothing of the lake on disk
    _assert_same_tables(on_disk, on_s3, "built on Spark, the lake on S3")
