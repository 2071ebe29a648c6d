"""Models: parsing, the graph, the three kinds, write-audit-publish, plans and lineage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import T0, land, pos_csv, pos_line, without_example_models

import weir
from weir.errors import ProjectError

DAY = 86_400
PRODUCTS_HEADER = "product_id,name,type,color,size,material,cost_price,list_price,launched_on"

DIM_PRODUCT = """/*
kind: scd2
unique_key: [product_id]
valid_from: valid_from
audits:
  - not_null: [product_id]
*/
SELECT product_id, cost_price, _extract_date AS valid_from FROM staging.products
"""

FACT_SALES = """/*
kind: incremental_by_time
time_column: sale_date
lookback: 1
grain: [transaction_id]
audits:
  - unique: [transaction_id]
*/
SELECT p.transaction_id, CAST(p."timestamp" AS DATE) AS sale_date, p.store_id, p.quantity,
       p.revenue - coalesce(p.discount_applied, 0) AS net_sales, p.quantity * d.cost_price AS cogs
FROM staging.pos AS p
LEFT JOIN warehouse.dim_product AS d
  ON d.product_id = p.product_id AND CAST(p.timestamp AS DATE) >= d.valid_from
 AND (d.valid_to IS NULL OR CAST(p.timestamp AS DATE) < d.valid_to)
WHERE p.timestamp >= $start AND p.timestamp < $end
"""

SALES_DAILY = """/*
grain: [day, store_id]
audits:
  - sql: "SELECT * FROM this WHERE net_sales < 0"
*/
SELECT sale_date AS day, store_id, sum(net_sales) AS net_sales, sum(quantity) AS units, sum(cogs) AS cogs
FROM warehouse.fact_sales_lines GROUP BY ALL
"""


def write_model(root: Path, name: str, sql: str) -> None:
    namespace, table = name.split(".")
    path = root / "models" / namespace / f"{table}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql, encoding="utf-8")


def products(day: str, *rows: tuple[int, float]) -> str:
    lines = [
        f"{pid},P{pid},Backpack,red,M,canvas,{cost},{cost * 2},2024-01-01" for pid, cost in rows
    ]
    return "\n".join([PRODUCTS_HEADER, *lines]) + "\n"


@pytest.fixture
def shop(project_root: Path) -> Path:
    without_example_models(project_root)  # only this test's models
    for name, sql in (
        ("warehouse.dim_product", DIM_PRODUCT),
        ("warehouse.fact_sales_lines", FACT_SALES),
        ("marts.sales_daily", SALES_DAILY),
    ):
        write_model(project_root, name, sql)
    land(
        project_root,
        "products",
        "products_2025-01-01.csv",
        products("2025-01-01", (10, 5.0), (11, 7.0)),
    )
    land(
        project_root,
        "products",
        "products_2025-01-02.csv",
        products("2025-01-02", (10, 6.0), (11, 7.0)),
    )
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("A1", product_id=10, quantity=2, revenue="20", timestamp=T0),
            pos_line(
                "A2",
                product_id=11,
                quantity=1,
                revenue="9",
                discount_applied="1",
                timestamp=T0 + 60,
            ),
        ),
    )
    return project_root


def rows(project: weir.Project, sql: str) -> list[dict[str, object]]:
    return project.sql(sql).to_pylist()


def test_a_first_run_builds_everything_in_order(shop: Path) -> None:
    with weir.Project(shop) as project:
        waiting = project.models.plan()  # nothing ingested yet: the models wait for their sources
        assert [(p.model, p.build, p.reason) for p in waiting] == [
            ("warehouse.dim_product", False, "no data yet: never ingested: staging.products"),
            ("warehouse.fact_sales_lines", False, "no data yet: never ingested: staging.pos"),
            ("marts.sales_daily", False, "no data yet upstream: warehouse.fact_sales_lines"),
        ]
        project.sources.ingest()
        planned = project.models.plan()
        assert [(p.model, p.build, p.reason) for p in planned] == [
            ("warehouse.dim_product", True, "new model"),
            ("warehouse.fact_sales_lines", True, "new model"),
            ("marts.sales_daily", True, "new model"),
        ]
        _, result = project.run()
        assert [b.status for b in result.builds] == ["built", "built", "built"]
        # 2025-01-01: 2 * 5.0 + 1 * 7.0 of cost; 20 + (9 - 1) of net sales
        assert rows(
            project, "SELECT day::VARCHAR AS day, net_sales, units, cogs FROM marts.sales_daily"
        ) == [{"day": "2025-01-01", "net_sales": 28.0, "units": 3, "cogs": 17.0}]
        assert all(not p.build and p.reason == "up to date" for p in project.models.plan())


def test_scd2_keeps_history_and_a_sale_uses_the_cost_of_its_day(shop: Path) -> None:
    land(
        shop, "products", "products_2025-01-03.csv", products("2025-01-03", (10, 6.0))
    )  # 11 is gone
    land(
        shop,
        "pos",
        "pos_2025-01-02_store001.csv",
        pos_csv(pos_line("B1", product_id=10, quantity=1, revenue="20", timestamp=T0 + DAY)),
    )
    with weir.Project(shop) as project:
        project.run()
        versions = rows(
            project,
            "SELECT product_id, cost_price, valid_from::VARCHAR AS f, valid_to::VARCHAR AS t, is_current "
            "FROM warehouse.dim_product ORDER BY 1, 3",
        )
        assert versions == [
            {
                "product_id": 10,
                "cost_price": 5.0,
                "f": "2025-01-01",
                "t": "2025-01-02",
                "is_current": False,
            },
            {"product_id": 10, "cost_price": 6.0, "f": "2025-01-02", "t": None, "is_current": True},
            {
                "product_id": 11,
                "cost_price": 7.0,
                "f": "2025-01-01",
                "t": "2025-01-03",
                "is_current": False,
            },
        ]
        daily = rows(project, "SELECT day::VARCHAR AS day, cogs FROM marts.sales_daily ORDER BY 1")
        assert daily == [{"day": "2025-01-01", "cogs": 17.0}, {"day": "2025-01-02", "cogs": 6.0}]


def test_incremental_runs_only_the_new_days_and_late_data_within_the_lookback(shop: Path) -> None:
    with weir.Project(shop) as project:
        project.run()
        land(
            shop,
            "pos",
            "pos_2025-01-02_store001.csv",
            pos_csv(
                pos_line("B1", quantity=1, revenue="5", timestamp=T0 + DAY),
                pos_line("A3", quantity=1, revenue="4", timestamp=T0 + 120),
            ),
        )  # late, for 2025-01-01
        project.sources.ingest(["pos"])
        [fact] = [p for p in project.models.plan() if p.model == "warehouse.fact_sales_lines"]
        assert fact.reason == "new data in staging.pos"
        assert fact.interval == (
            "2024-12-31",
            "9999-12-31",
        )  # watermark 2025-01-01 minus one day of lookback
        project.run()
        daily = rows(
            project, "SELECT day::VARCHAR AS day, net_sales FROM marts.sales_daily ORDER BY 1"
        )
        assert daily == [
            {"day": "2025-01-01", "net_sales": 32.0},
            {"day": "2025-01-02", "net_sales": 5.0},
        ]
        one_go = rows(project, "SELECT * FROM warehouse.fact_sales_lines ORDER BY transaction_id")
        project.run(full_refresh=True, ingest=False)
        assert (
            rows(project, "SELECT * FROM warehouse.fact_sales_lines ORDER BY transaction_id")
            == one_go
        )


def test_a_failing_audit_keeps_the_last_good_version_and_skips_dependents(shop: Path) -> None:
    with weir.Project(shop) as project:
        project.run()
        before = rows(project, "SELECT * FROM marts.sales_daily")
        land(
            shop,
            "pos",
            "pos_2025-01-02_store001.csv",
            pos_csv(
                pos_line("C1", quantity=1, revenue="5", discount_applied="5", timestamp=T0 + DAY)
            ),
        )
        write_model(
            shop, "marts.sales_daily", SALES_DAILY.replace("net_sales < 0", "net_sales <= 0")
        )
        write_model(shop, "marts.sales_report", "SELECT count(*) AS days FROM marts.sales_daily\n")
        _, result = project.run()
        status = {b.model: b for b in result.builds}
        assert status["warehouse.fact_sales_lines"].status == "built"
        failed = status["marts.sales_daily"]
        assert failed.status == "failed" and "net_sales <= 0" in str(failed.error)
        assert failed.failing_sample and failed.failing_sample[0]["net_sales"] == 0.0
        assert status["marts.sales_report"].status == "skipped"
        assert not result.ok
        assert (
            rows(project, "SELECT * FROM marts.sales_daily") == before
        )  # readers keep the last good version


def test_selection_and_the_snapshot_records_its_inputs(shop: Path) -> None:
    with weir.Project(shop) as project:
        project.run()
        assert [p.model for p in project.models.plan(["warehouse.fact_sales_lines+"])] == [
            "warehouse.fact_sales_lines",
            "marts.sales_daily",
        ]
        assert [p.model for p in project.models.plan(["+warehouse.fact_sales_lines"])] == [
            "warehouse.dim_product",
            "warehouse.fact_sales_lines",
        ]
        [latest] = project.snapshots("marts.sales_daily")[-1:]
        inputs = latest.summary["weir.inputs"]
        assert "warehouse.fact_sales_lines" in inputs
        with pytest.raises(ProjectError, match=r"did you mean marts\.sales_daily"):
            project.models.plan(["marts.sales_dayly"])


def test_lineage_follows_columns_through_models(shop: Path) -> None:
    with weir.Project(shop) as project:
        project.run()
        column = project.models.lineage("marts.sales_daily.net_sales")
        assert column["upstream"] == [
            "staging.pos.discount_applied",
            "staging.pos.revenue",
            "warehouse.fact_sales_lines.net_sales",
        ]
        # a column the SQL quotes (p."timestamp") is named as the table names it
        sale_date = project.models.lineage("warehouse.fact_sales_lines.sale_date")
        assert sale_date["upstream"] == ["staging.pos.timestamp"]
        cost = project.models.lineage("warehouse.dim_product.cost_price")
        assert "marts.sales_daily.cogs" in cost["downstream"]
        table = project.models.lineage("warehouse.fact_sales_lines")
        assert table["downstream"] == ["marts.sales_daily"]
        assert "staging.pos" in table["upstream"]


def test_bad_models_fail_with_the_file_and_a_fix(project_root: Path) -> None:
    without_example_models(project_root)
    write_model(project_root, "warehouse.broken", "/*\nkind: scd2\n*/\nSELECT 1 AS x\n")
    with (
        weir.Project(project_root) as project,
        pytest.raises(ProjectError, match=r"broken.sql.*unique_key"),
    ):
        project.models.plan()
    write_model(project_root, "warehouse.broken", "/*\nkinds: full\n*/\nSELECT 1 AS x\n")
    with weir.Project(project_root) as project, pytest.raises(ProjectError, match="kinds"):
        project.models.plan()
    write_model(project_root, "warehouse.broken", "SELECT * FROM staging.poss\n")
    with (
        weir.Project(project_root) as project,
        pytest.raises(ProjectError, match=r"did you mean staging\.pos"),
    ):
        project.models.plan()
    write_model(project_root, "warehouse.broken", "SELECT * FROM warehouse.other\n")
    write_model(project_root, "warehouse.other", "SELECT * FROM warehouse.broken\n")
    with weir.Project(project_root) as project, pytest.raises(ProjectError, match="cycle"):
        project.models.plan()


def test_spacing_comments_and_keyword_case_do_not_rebuild_a_model(shop: Path) -> None:
    """A model's fingerprint is its SQL's tokens: reformatting is not a change, a literal is."""
    with weir.Project(shop) as project:
        project.run()
    header, body = SALES_DAILY.split("*/\n")
    body = body.replace("SELECT", "select  -- the day's sales\n").replace("FROM", "\n\n  from")
    reformatted = f"{header}*/\n{body};\n"
    assert reformatted != SALES_DAILY
    write_model(shop, "marts.sales_daily", reformatted)
    with weir.Project(shop) as project:
        assert {p.model: p.reason for p in project.models.plan()}["marts.sales_daily"] == (
            "up to date"
        )
    write_model(shop, "marts.sales_daily", reformatted.replace("AS units", 'AS "Units"'))
    with weir.Project(shop) as project:
        assert {p.model: p.reason for p in project.models.plan()}["marts.sales_daily"] == (
            "changed SQL"
        )


def test_the_parse_cache_gives_what_parsing_gives(shop: Path) -> None:
    """Models loaded through the cache, from a damaged cache, and without one are the same."""
    from weir.transform import load_models

    cache = shop / ".weir" / "cache" / "models.json"
    fresh = load_models(shop)
    assert load_models(shop, cache) == fresh  # writes the cache
    assert cache.exists()
    assert load_models(shop, cache) == fresh  # reads it
    write_model(shop, "marts.sales_daily", SALES_DAILY.replace("AS cogs", "AS cogs, 1 AS one"))
    edited = load_models(shop)
    assert edited["marts.sales_daily"].fingerprint != fresh["marts.sales_daily"].fingerprint
    assert load_models(shop, cache) == edited
    cache.write_text('{"version": "damaged', encoding="utf-8")
    assert load_models(shop, cache) == edited


def test_planning_imports_neither_arrow_nor_iceberg(project_root: Path, tmp_path: Path) -> None:
    """`weir plan`, in a new process, reads no table's files: on a new project and on one with
    data and built models it loads none of pyarrow, pyiceberg or numpy (a cold `weir plan`
    would pay about a second for them); it reads each input's current snapshot from the
    table's metadata file."""
    from datetime import date

    from weir.demo.generate import generate

    script = (
        "import sys\n"
        "from weir.cli.main import cli\n"
        f"cli(['--project', {str(project_root)!r}, 'plan'], standalone_mode=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'pyiceberg', 'numpy'}))\n"
    )

    def plan() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
        )
        return done.stdout.strip().splitlines()

    new = plan()
    assert new[-1] == "[]" and any("no data yet" in line for line in new), new
    landing = tmp_path / "landing"
    generate(landing, days=1, scale=0.05, seed=5, start=date(2024, 3, 1))
    with weir.Project(project_root) as project:
        project.sources.ingest(["web_traffic"], path=landing / "web_traffic")
        _, result = project.run(ingest=False)
        assert result.ok and any(b.status == "built" for b in result.builds)
        pinned = project.lake.snapshot_for("staging", "web_traffic")
        assert pinned is not None
        assert project.lake.current_snapshot_id("staging", "web_traffic") == pinned.snapshot_id
    built = plan()
    assert built[-1] == "[]", built
    assert any("warehouse.fact_sessions" in line and "up to date" in line for line in built), built


def test_a_selection_waits_for_sources_never_ingested_and_a_named_model_says_why(
    project_root: Path, tmp_path: Path
) -> None:
    """The example's `web_models` schedule after the first web events, before any CRM event or
    product: what can build does; what reads a source never ingested, or a model never built
    and not selected, waits ("no data yet"), so the run succeeds; a model asked for by its bare
    name fails, naming what is missing, instead of an engine's "table does not exist"."""
    from datetime import date

    from weir.demo.generate import generate

    landing = tmp_path / "landing"
    generate(landing, days=1, scale=0.05, seed=5, start=date(2024, 3, 1))
    with weir.Project(project_root) as project:
        project.sources.ingest(["web_traffic"], path=landing / "web_traffic")
        selection = [
            "warehouse.fact_web_events+",
            "warehouse.fact_sessions+",
            "warehouse.fact_interactions+",
        ]
        _, result = project.run(ingest=False, select=selection)
        assert result.ok
        status = {b.model: (b.status, b.reason) for b in result.builds}
        assert status["warehouse.fact_sessions"][0] == "built"
        assert status["marts.sessions"][0] == "built"
        assert status["warehouse.fact_interactions"] == (
            "skipped",
            "no data yet: never ingested: staging.crm_interactions",
        )
        assert status["warehouse.fact_web_events"] == (
            "skipped",
            "no data yet upstream: warehouse.dim_product",
        )
        assert status["marts.active_users_daily"] == (
            "skipped",
            "no data yet upstream: warehouse.fact_web_events",
        )
        _, named = project.run(ingest=False, select=["warehouse.fact_interactions"])
        [build] = named.builds
        assert not named.ok and build.status == "failed"
        assert build.error is not None
        assert "cannot build yet" in build.error and "staging.crm_interactions" in build.error
        assert "`weir run +warehouse.fact_interactions`" in build.error
