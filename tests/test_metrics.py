"""KPI queries: periods, dimensions, empty periods, period-end KPIs, funnels, comparisons, as-of."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from conftest import T0, land, pos_csv, pos_line, without_example_models

import weir
from weir.errors import ProjectError, QueryError

DAY = 86_400
WEEK = 7 * DAY

SALES = """/*
grain: [transaction_id]
*/
SELECT transaction_id, CAST(timestamp AS DATE) AS day, store_id, quantity,
       revenue - coalesce(discount_applied, 0) AS net_sales,
       CASE WHEN quantity >= 2 THEN 3 WHEN quantity = 1 THEN 1 ELSE 0 END AS step
FROM staging.pos
"""

METRICS = """kpis:
  - name: net_sales
    team: sales
    description: Net sales
    mart: marts.sales
    time: day
    value: sum(net_sales)
    empty: zero
    dimensions: [store_id]
  - name: average_basket
    team: sales
    description: Net sales per transaction
    mart: marts.sales
    time: day
    value: sum(net_sales) / nullif(count(*), 0)
    secondary: {transactions: count(*)}
    dimensions: [store_id]
  - name: last_day_units
    team: operations
    description: Units sold on the last day of the period (a period-end KPI)
    mart: marts.sales
    time: day
    value: sum(quantity)
    at_period_end: true
  - name: funnel
    team: marketing
    description: Steps reached
    mart: marts.sales
    time: day
    value: count(*)
    steps:
      - {step: 1, name: one, value: "count(*) FILTER (WHERE step >= 1)"}
      - {step: 2, name: two, value: "count(*) FILTER (WHERE step >= 2)"}
      - {step: 3, name: three, value: "count(*) FILTER (WHERE step >= 3)"}
"""

# Monday 2025-01-06 12:00 UTC
MONDAY = T0 + 5 * DAY


@pytest.fixture
def shop(project_root: Path) -> weir.Project:
    # only this test's model and KPIs, not the example project's
    without_example_models(project_root)
    shutil.rmtree(project_root / "metrics", ignore_errors=True)
    model = project_root / "models" / "marts" / "sales.sql"
    model.parent.mkdir(parents=True)
    model.write_text(SALES, encoding="utf-8")
    (project_root / "metrics").mkdir()
    (project_root / "metrics" / "test.yml").write_text(METRICS, encoding="utf-8")
    land(
        project_root,
        "pos",
        "pos_2025-01-06_store001.csv",
        pos_csv(
            pos_line(
                "A", store_id=1, quantity=2, revenue="10", discount_applied="2", timestamp=MONDAY
            ),  # 8
            pos_line("B", store_id=2, quantity=1, revenue="6", timestamp=MONDAY + 60),  # 6
            pos_line(
                "C", store_id=1, quantity=1, revenue="4", timestamp=MONDAY + 2 * DAY
            ),  # 4, Wed
        ),
    )
    land(
        project_root,
        "pos",
        "pos_2025-01-20_store001.csv",
        pos_csv(
            pos_line(
                "D", store_id=2, quantity=3, revenue="12", timestamp=MONDAY + 2 * WEEK + DAY
            ),  # 12, Tue
        ),
    )
    with weir.Project(project_root) as project:
        project.run()
        yield project


def table(project: weir.Project, name: str, **kwargs: object) -> list[dict[str, object]]:
    rows = project.kpis.answer(name, **kwargs).to_pylist()  # type: ignore[arg-type]
    return [
        {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()} for row in rows
    ]


def test_weeks_with_and_without_sales(shop: weir.Project) -> None:
    # weeks of 2025-01-06 (8 + 6 + 4), 2025-01-13 (nothing: 0, a sum), 2025-01-20 (12)
    assert table(
        shop, "net_sales", grain="week", start=date(2025, 1, 6), end=date(2025, 1, 26)
    ) == [
        {"period": "2025-01-06", "value": 18.0},
        {"period": "2025-01-13", "value": 0.0},
        {"period": "2025-01-20", "value": 12.0},
    ]
    # a ratio over an empty week is null, not 0
    basket = table(
        shop, "average_basket", grain="week", start=date(2025, 1, 6), end=date(2025, 1, 26)
    )
    assert [(r["period"], r["value"], r["transactions"]) for r in basket] == [
        ("2025-01-06", 6.0, 3),
        ("2025-01-13", None, None),
        ("2025-01-20", 12.0, 1),
    ]


def test_dimensions_and_ratios_of_sums(shop: weir.Project) -> None:
    assert table(shop, "average_basket", grain="month", by=["store_id"]) == [
        {"period": "2025-01-01", "store_id": 1, "value": 6.0, "transactions": 2},  # (8 + 4) / 2
        {"period": "2025-01-01", "store_id": 2, "value": 9.0, "transactions": 2},  # (6 + 12) / 2
    ]
    with pytest.raises(QueryError, match="no dimension region"):
        shop.kpis.answer("net_sales", by=["region"])
    with pytest.raises(ProjectError, match="did you mean net_sales"):
        shop.kpis.answer("net_sale")


def test_period_end_kpis_use_the_last_day_with_rows(shop: weir.Project) -> None:
    # week of 2025-01-06: rows on Monday (2 + 1 units) and Wednesday (1): the last day is Wednesday
    assert table(shop, "last_day_units", grain="week") == [
        {"period": "2025-01-06", "value": 1},
        {"period": "2025-01-20", "value": 3},
    ]


def test_funnel_rows_per_step(shop: weir.Project) -> None:
    # steps reached: A → 3, B → 1, C → 1, D → 3 (none reaches exactly 2 without 3)
    rows = table(shop, "funnel", grain="month")
    assert [(r["step"], r["step_name"], r["sessions"], r["value"]) for r in rows] == [
        (1, "one", 4, 4),
        (2, "two", 2, 2),
        (3, "three", 2, 2),
    ]
    assert (
        rows[0]["conversion"] is None
        and rows[1]["conversion"] == 0.5
        and rows[2]["conversion"] == 1.0
    )
    assert rows[1]["drop_off"] == 0.5


def test_compare_with_the_previous_period(shop: weir.Project) -> None:
    rows = table(
        shop,
        "net_sales",
        grain="week",
        start=date(2025, 1, 13),
        end=date(2025, 1, 26),
        compare="previous_period",
    )
    assert [(r["period"], r["value"], r["previous_value"], r["change"]) for r in rows] == [
        ("2025-01-13", 0.0, 18.0, -18.0),
        ("2025-01-20", 12.0, 0.0, 12.0),
    ]


def test_flagged_days_can_be_left_out_and_as_of_answers_from_the_past(
    shop: weir.Project, project_root: Path
) -> None:
    shop.kpis.flag_day(date(2025, 1, 8), "staging.pos", "late file")
    assert table(shop, "net_sales", grain="month", exclude_flagged=True) == [
        {"period": "2025-01-01", "value": 26.0}
    ]
    before = datetime.now().astimezone()
    time.sleep(0.05)
    land(
        project_root,
        "pos",
        "pos_2025-01-21_store001.csv",
        pos_csv(
            pos_line(
                "E", store_id=2, quantity=1, revenue="100", timestamp=MONDAY + 2 * WEEK + 2 * DAY
            )
        ),
    )
    shop.run()
    assert table(shop, "net_sales", grain="month") == [{"period": "2025-01-01", "value": 130.0}]
    assert table(shop, "net_sales", grain="month", as_of=before) == [
        {"period": "2025-01-01", "value": 30.0}
    ]


def test_kpi_list_names_every_kpi(shop: weir.Project) -> None:
    assert [k.name for k in shop.kpis.definitions()] == [
        "funnel",
        "last_day_units",
        "average_basket",
        "net_sales",
    ]


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("where", "1=1) UNION SELECT email FROM staging.customers --", "is not one SQL expression"),
        ("value", "sum(net_sales); DROP TABLE marts.sales", "is not one SQL expression"),
        ("mart", 'marts.sales" --', "is not a table name"),
        ("mart", "sales", "is not a table name"),
    ],
)
def test_kpi_sql_fragments_are_one_expression_and_marts_are_names(
    project_root: Path, field: str, text: str, message: str
) -> None:
    # metrics files are text weir puts into SQL: each fragment must parse as one expression
    shutil.rmtree(project_root / "metrics", ignore_errors=True)
    (project_root / "metrics").mkdir()
    definition = {
        "name": "net_sales",
        "team": "sales",
        "description": "Net sales",
        "mart": "marts.sales",
        "time": "day",
        "value": "sum(net_sales)",
        field: text,
    }
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in definition.items())
    (project_root / "metrics" / "bad.yml").write_text(
        "kpis:\n  - " + lines.strip() + "\n", encoding="utf-8"
    )
    with weir.Project(project_root) as project, pytest.raises(ProjectError) as caught:
        project.kpis.definitions()
    assert caught.value.what.startswith("metrics/bad.yml")
    assert message in str(caught.value) and field in str(caught.value)
