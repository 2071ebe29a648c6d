"""Every number explains itself: the explain panel and the link that reproduces a number.

The golden retailer served in-process (shared with the other web tests) for
what only reads; a project of this module's own for what writes (a flagged
day, a new day of sales), so the shared one keeps its numbers. Values are the
golden ones worked by hand in tests/golden/expected.py: net sales of the week
of 2025-01-13 = 770 of revenue - (9 + 20 + 5) of discounts = 736, of which
North (store 1) = 330 - 9 = 321.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from served import USER_OF, Served, build_served
from test_web import CHEAP_ARGON2, PASSWORD, api_rows, client, signed_in

import weir
from weir.metrics import kpi_sql
from weir.serve.app import create_app
from weir.serve.web.shell import CSP

RANGE = "from=2025-01-06&to=2025-01-19&grain=week&compare=1"
HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


def _serve(shop: Served) -> Iterator[Any]:
    with shop.project() as opened:
        opened.signin.hasher = CHEAP_ARGON2
        for user in USER_OF.values():
            opened.signin.set_password(user, PASSWORD)
        yield create_app(opened)


@pytest.fixture(scope="module")
def app(shop: Served) -> Iterator[Any]:
    yield from _serve(shop)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """A project of this module's own: its tests write to it."""
    return build_served(tmp_path_factory.mktemp("explain-own"))


@pytest.fixture(scope="module")
def own_app(own: Served) -> Iterator[Any]:
    yield from _serve(own)


def panel(app: Any, user: str, item: str, query: str = RANGE, board: str = "sales") -> Any:
    return signed_in(app, user).get(f"/dashboards/{board}/{item}/explain?{query}", headers=HTMX)


def reproduce_href(text: str) -> str:
    found = re.search(r'class="reproduce" href="([^"]+)"', text)
    assert found is not None, "no reproduce link"
    return html.unescape(found.group(1))


def shown_value(text: str) -> float:
    found = re.search(r'class="value" data-value="([^"]*)"', text)
    assert found is not None, "no value shown"
    return float(found.group(1))


def test_the_panel_says_what_the_number_is_and_the_sql_the_kpi_service_runs(
    app: Any, shop: Served
) -> None:
    answer = panel(app, "ada", "tile/1")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP
    text = answer.text
    assert "<html" not in text and 'id="explain-panel"' in text  # htmx gets the panel alone
    assert 'data-kpi="net_sales"' in text
    # the definition in words and its expression, from metrics/sales.yml
    assert "Sum of POS revenue minus discounts" in text and "sum(net_sales)" in text
    shown = html.unescape(re.search(r'<pre class="sql"><code>(.*?)</code>', text, re.S)[1])  # type: ignore[index]
    with shop.project() as project:
        question = project.kpis.question(
            "net_sales",
            "week",
            start=date(2025, 1, 6),
            end=date(2025, 1, 19),
            compare="previous_period",
        )
        assert shown == kpi_sql(question)
        current = project.lake.snapshots("marts", "sales_daily")[-1]
    # the snapshot it is computed from, by id, with the table
    assert f'data-snapshot="{current.snapshot_id}" data-table="marts.sales_daily"' in text
    assert "No day from" in text  # nothing flagged in the golden range


def test_the_lineage_goes_down_to_the_source_fields_the_role_may_read(app: Any) -> None:
    admin = panel(app, "ada", "tile/1").text
    net = re.search(r'data-column="marts.sales_daily.net_sales">(.*?)</li>', admin, re.S)
    assert net is not None
    assert ">staging.pos.revenue<" in net[1] and ">staging.pos.discount_applied<" in net[1]
    assert "warehouse.fact_sales_lines.net_sales" in net[1]  # the model in between
    # the sales role reads the marts only: nothing upstream of them is named to it
    sales = panel(app, "sam", "tile/1").text
    assert "staging." not in sales and "warehouse." not in sales
    assert "nothing upstream of it that your role may read" in sales


def test_a_number_the_role_may_not_read_is_not_found(app: Any) -> None:
    # sales_north may not read marts.product_daily: product turnover (tile 7) is not there
    hidden = panel(app, "nina", "tile/7")
    assert hidden.status_code == 404
    assert "product_daily" not in hidden.text and "units_on_hand" not in hidden.text
    # nor another team's dashboard
    assert panel(app, "sam", "tile/1", board="finance").status_code == 404
    assert panel(app, "sam", "tile/99").status_code == 404
    # a table that is a query has its SQL in the dashboard file, not a KPI to explain
    sql_table = panel(app, "oscar", "table/1", board="operations")
    assert sql_table.status_code == 404 and "is a query, not a KPI" in sql_table.text


def test_the_reproduce_link_answers_the_same_value_as_the_tile_and_the_api(
    app: Any, shop: Served
) -> None:
    for user, role, expected in (("ada", "admin", 736.0), ("nina", "sales_north", 321.0)):
        browser = signed_in(app, user)
        board = browser.get(f"/dashboards/sales?{RANGE}").text
        tile = float(re.search(r'data-kpi="net_sales" data-value="([^"]*)"', board)[1])  # type: ignore[index]
        href = reproduce_href(browser.get(f"/dashboards/sales/tile/1/explain?{RANGE}").text)
        assert href.startswith("/kpis/net_sales?") and "as_of=" in href
        again = browser.get(href)
        assert again.status_code == 200
        assert tile == shown_value(again.text) == expected
        # the same parameters to the API, with a token of the role
        params = dict(p.split("=", 1) for p in href.split("?", 1)[1].split("&"))
        params["as_of"] = params["as_of"].replace("%3A", ":").replace("%2B", "+")
        rows = api_rows(app, shop, role, "net_sales", **params)
        assert rows[-1]["value"] == expected


def test_a_chart_and_a_kpi_table_explain_themselves_too(app: Any) -> None:
    chart = panel(app, "sam", "chart/2", RANGE + "&region=North")
    assert chart.status_code == 200
    # drilled into North: asked by region and store, the North rows kept
    assert "by region, store_id" in chart.text and "region = North" in chart.text
    table = panel(app, "sam", "table/1")
    assert table.status_code == 200 and 'data-kpi="net_sales"' in table.text
    # followed without htmx, the panel is a page of its own
    page = signed_in(app, "sam").get(f"/dashboards/sales/tile/2/explain?{RANGE}")
    assert (
        page.status_code == 200 and "<html" in page.text and 'data-kpi="gross_sales"' in page.text
    )


def test_a_flagged_day_is_listed_with_its_reason(own_app: Any, own: Served) -> None:
    with own.project() as project:
        project.kpis.flag_day(date(2025, 1, 14), "pos", "half the store files arrived late")
    text = panel(own_app, "sam", "tile/1").text
    assert 'data-day="2025-01-14"' in text and "half the store files arrived late" in text
    assert "counted" in text
    left_out = panel(own_app, "sam", "tile/1", RANGE + "&flagged=exclude").text
    assert "left out" in left_out


def test_the_reproduce_link_keeps_its_value_after_new_data_arrives(
    own_app: Any, own: Served, tmp_path: Path
) -> None:
    browser = signed_in(own_app, "ada")
    before = reproduce_href(browser.get(f"/dashboards/sales/tile/1/explain?{RANGE}").text)
    # a new file of store 1 for 2025-01-18: 2 x 90 of revenue, 10 of discount -> W2 + 170
    landing = own.root / "landing" / "pos"
    source = tmp_path / "pos_2025-01-18_store001.csv"
    source.write_text(
        "transaction_id,store_id,product_id,quantity,revenue,discount_applied,timestamp,"
        "customer_id,card_number\n"
        "T001-20250118-0001,1,101,2,180.0,10.0,1737195000.0,,\n"
    )
    shutil.copy(source, landing / source.name)
    with weir.Project(own.root) as project:
        _, result = project.run()
        assert result.ok
    now = browser.get(f"/dashboards/sales?{RANGE}").text
    assert 'data-kpi="net_sales" data-value="906.0"' in now  # 736 + 180 - 10
    # as of the snapshots it was computed from, the number is what it was
    assert shown_value(browser.get(before).text) == 736.0
    after = reproduce_href(browser.get(f"/dashboards/sales/tile/1/explain?{RANGE}").text)
    assert after != before and shown_value(browser.get(after).text) == 906.0


def test_a_panel_without_a_session_sends_to_sign_in(app: Any) -> None:
    answer = client(app).get(f"/dashboards/sales/tile/1/explain?{RANGE}")
    assert answer.status_code == 303
