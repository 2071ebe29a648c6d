"""The HTTP API in-process: each reference role sees exactly its grants; one JSON error shape everywhere."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from served import Served, build_served

import weir
from weir.serve.api import json_rows
from weir.serve.app import create_app

ARROW = "application/vnd.apache.arrow.stream"

SALES = {"marts.sales_daily", "marts.product_daily", "marts.stock_daily"}
MARKETING = {
    "marts.sessions",
    "marts.active_users_daily",
    "marts.new_product_ctr_daily",
    "marts.customer_activity_daily",
    "marts.engagement_daily",
    "marts.experiment_sessions",
}
SUPPORT = {"marts.interactions", "marts.cases", "marts.case_backlog_daily"}
OPERATIONS_MARTS = {"marts.product_daily", "marts.restocks_daily", "marts.stock_daily"}

SALES_KPIS = {
    "gross_sales",
    "net_sales",
    "units_sold",
    "transactions",
    "average_basket",
    "stock_availability",
    "product_turnover",
}
LOGISTICS_KPIS = {
    "hop_dwell_hours",
    "bottleneck_hops",
    "late_parcel_rate",
    "lead_time_days",
    "late_delivery_rate",
    "stockouts_from_late_delivery",
}
OPERATIONS_KPIS = {
    "inventory_turnover",
    "days_of_inventory",
    "restock_frequency",
    "stockouts",
} | LOGISTICS_KPIS
FINANCE_KPIS = {
    "revenue",
    "discounts",
    "net_revenue",
    "cogs",
    "gross_margin",
    "taxes",
    "transaction_count",
    "average_transaction",
    "pnl_net_income",
    "pnl_revenue_gap",
}
MARKETING_KPIS = {
    "sessions",
    "session_duration",
    "bounce_rate",
    "daily_active_users",
    "new_product_ctr",
    "conversion_rate",
    "funnel",
    "loyalty_activity_rate",
    "engagement_score",
    "experiment_conversion",
}
SUPPORT_KPIS = {"interaction_volume", "feedback_score", "time_to_resolution"}
ALL_KPIS = SALES_KPIS | OPERATIONS_KPIS | FINANCE_KPIS | MARKETING_KPIS | SUPPORT_KPIS


class Client:
    """A synchronous face on an in-process ``httpx.ASGITransport`` client."""

    def __init__(self, project: weir.Project) -> None:
        self.app = create_app(project)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def project(shop: Served) -> Iterator[weir.Project]:
    with shop.project() as opened:
        yield opened


@pytest.fixture(scope="module")
def api(project: weir.Project) -> Client:
    return Client(project)


@pytest.fixture(scope="module")
def lake_tables(project: weir.Project) -> set[str]:
    return {f"{layer}.{name}" for layer, name in project.lake.tables()}


def visible(role: str, lake: set[str]) -> set[str]:
    warehouse = {t for t in lake if t.startswith("warehouse.")}
    return {
        "sales": SALES,
        "sales_north": {"marts.sales_daily", "marts.stock_daily"},
        "marketing": MARKETING,
        "operations": warehouse | OPERATIONS_MARTS,
        "support": SUPPORT,
        "finance": {"marts.finance_daily", "marts.pnl_monthly"},
        "analyst": {t for t in lake if t.startswith(("warehouse.", "marts."))},
        "admin": lake,
    }[role]


ROLES = [
    "sales",
    "sales_north",
    "marketing",
    "operations",
    "support",
    "finance",
    "analyst",
    "admin",
]


def query(api: Client, shop: Served, role: str, sql: str, **extra: Any) -> httpx.Response:
    return api.post("/api/v1/query", json={"sql": sql, **extra}, headers=shop.headers(role))


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"status", "code", "message", "fix"} <= set(error), error
    assert error["status"] == status and isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return dict(error)


# -- each role sees exactly what its grants allow -------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_datasets_lists_exactly_the_grants(
    api: Client, shop: Served, role: str, lake_tables: set[str]
) -> None:
    response = api.get("/api/v1/datasets", params={"limit": 1000}, headers=shop.headers(role))
    assert response.status_code == 200, response.text
    page = response.json()
    names = {d["name"] for d in page["datasets"]}
    assert names == visible(role, lake_tables)
    assert page["total"] == len(names) and page["next_offset"] is None


@pytest.mark.parametrize("role", ROLES)
def test_queries_run_on_granted_tables_and_are_refused_elsewhere(
    api: Client, shop: Served, role: str, lake_tables: set[str]
) -> None:
    allowed = visible(role, lake_tables)
    granted = sorted(t for t in allowed if t.startswith("marts."))[:3]
    for table in granted:
        response = query(api, shop, role, f"SELECT count(*) AS n FROM {table}")
        assert response.status_code == 200, (table, response.text)
        assert response.json()["columns"] == [{"name": "n", "type": "int64"}]
    refused = sorted(lake_tables - allowed)
    for table in [t for t in refused if t.startswith(("raw.", "staging.", "marts."))][:3]:
        error = assert_error(query(api, shop, role, f"SELECT * FROM {table}"), 403, "forbidden")
        assert table in error["message"]


@pytest.mark.parametrize("role", ROLES)
def test_kpis_lists_only_those_of_readable_marts(api: Client, shop: Served, role: str) -> None:
    response = api.get("/api/v1/kpis", headers=shop.headers(role))
    assert response.status_code == 200, response.text
    names = {k["name"] for k in response.json()["kpis"]}
    expected = {
        "sales": SALES_KPIS | {"inventory_turnover", "days_of_inventory", "stockouts"},
        "sales_north": SALES_KPIS - {"product_turnover"} | {"stockouts"},
        "marketing": MARKETING_KPIS,
        "operations": OPERATIONS_KPIS | {"stock_availability", "product_turnover"},
        "support": SUPPORT_KPIS,
        "finance": FINANCE_KPIS,
        "analyst": ALL_KPIS,
        "admin": ALL_KPIS,
    }[role]
    assert names == expected


def test_a_kpi_outside_the_grants_is_not_found(api: Client, shop: Served) -> None:
    assert_error(api.get("/api/v1/kpis/revenue", headers=shop.headers("sales")), 404)
    assert_error(api.get("/api/v1/kpis/no_such_kpi", headers=shop.headers("admin")), 404)
    # the same answer whether or not it exists: nothing is confirmed
    hidden = api.get("/api/v1/kpis/revenue", headers=shop.headers("sales")).json()
    missing = api.get("/api/v1/kpis/no_such_kpi", headers=shop.headers("sales")).json()
    assert hidden["error"]["code"] == missing["error"]["code"]


def test_a_regional_role_sees_its_region_in_sql_and_in_kpis(api: Client, shop: Served) -> None:
    sql = "SELECT region, round(sum(net_sales), 2) AS net FROM marts.sales_daily GROUP BY 1 ORDER BY 1"
    everyone = dict(query(api, shop, "admin", sql).json()["rows"])
    north = dict(query(api, shop, "sales_north", sql).json()["rows"])
    assert len(everyone) > 1 and north == {"North": everyone["North"]}
    params = {"grain": "week", "by": "region", "from": "2025-01-06", "to": "2025-01-19"}
    kpi = api.get("/api/v1/kpis/net_sales", params=params, headers=shop.headers("sales_north"))
    assert kpi.status_code == 200, kpi.text
    body = kpi.json()
    names = [c["name"] for c in body["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in body["rows"]]
    assert rows and {r["region"] for r in rows} == {"North"}
    full = api.get("/api/v1/kpis/net_sales", params=params, headers=shop.headers("admin")).json()
    full_rows = [dict(zip(names, row, strict=True)) for row in full["rows"]]
    assert {r["region"] for r in full_rows} > {"North"}
    assert [r for r in full_rows if r["region"] == "North"] == rows


def test_a_kpi_by_period_with_comparison(api: Client, shop: Served) -> None:
    response = api.get(
        "/api/v1/kpis/revenue",
        params={"grain": "week", "compare": "previous_period", "from": "2025-01-06"},
        headers=shop.headers("finance"),
    )
    assert response.status_code == 200, response.text
    columns = [c["name"] for c in response.json()["columns"]]
    assert {"period", "value", "previous_value", "change"} <= set(columns)
    assert_error(api.get("/api/v1/kpis/revenue?by=planet", headers=shop.headers("finance")), 400)
    assert_error(api.get("/api/v1/kpis/revenue?grain=decade", headers=shop.headers("finance")), 422)


def test_personal_data_is_hashed_for_a_role_without_pii(api: Client, shop: Served) -> None:
    sql = "SELECT email FROM warehouse.dim_customer WHERE email IS NOT NULL LIMIT 5"
    hashed = [r[0] for r in query(api, shop, "operations", sql).json()["rows"]]
    clear = [r[0] for r in query(api, shop, "admin", sql).json()["rows"]]
    assert hashed and all(v.startswith("pii_") for v in hashed)
    assert clear and not any(v.startswith("pii_") for v in clear)


def test_a_dataset_detail_has_columns_classification_owner_and_freshness(
    api: Client, shop: Served
) -> None:
    response = api.get(
        "/api/v1/datasets/warehouse.dim_customer", headers=shop.headers("operations")
    )
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["owner"] == "marketing" and detail["description"]
    columns = {c["name"]: c for c in detail["columns"]}
    assert columns["email"]["classification"] == "pii"
    assert columns["customer_id"]["classification"] is None
    assert detail["freshness"] and detail["row_count"] > 0 and detail["snapshot_id"]
    source = api.get("/api/v1/datasets/staging.pos", headers=shop.headers("admin")).json()
    assert {c["name"]: c["classification"] for c in source["columns"]}["card_number"] == "pci"


def test_a_dataset_outside_the_grants_is_not_found_not_forbidden(api: Client, shop: Served) -> None:
    hidden = assert_error(
        api.get("/api/v1/datasets/staging.customers", headers=shop.headers("sales")), 404
    )
    missing = assert_error(
        api.get("/api/v1/datasets/staging.nothing", headers=shop.headers("sales")), 404
    )
    assert hidden["code"] == missing["code"] == "not_found"
    assert_error(api.get("/api/v1/lineage/staging.customers", headers=shop.headers("sales")), 404)


def test_datasets_page(api: Client, shop: Served, lake_tables: set[str]) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = api.get(
            "/api/v1/datasets", params={"limit": 7, "offset": offset}, headers=shop.headers("admin")
        ).json()
        seen += [d["name"] for d in page["datasets"]]
        offset = page["next_offset"]
    assert seen == sorted(lake_tables)


def test_lineage_stays_within_what_the_role_sees(api: Client, shop: Served) -> None:
    full = api.get("/api/v1/lineage/marts.sales_daily", headers=shop.headers("admin")).json()
    assert "staging.pos" in full["upstream"]
    ops = api.get("/api/v1/lineage/warehouse.fact_sales_lines", headers=shop.headers("operations"))
    assert ops.status_code == 200, ops.text
    upstream = ops.json()["upstream"]
    assert upstream and all(u.startswith("warehouse.") for u in upstream)
    column = api.get(
        "/api/v1/lineage/marts.sales_daily.net_sales", headers=shop.headers("admin")
    ).json()
    assert any(u.startswith("staging.pos.") for u in column["upstream"])


# -- results -----------------------------------------------------------------------------------
def test_rows_are_limited_and_marked_truncated(api: Client, shop: Served) -> None:
    body = query(api, shop, "admin", "SELECT * FROM marts.sales_daily", limit=3).json()
    assert body["row_count"] == 3 and len(body["rows"]) == 3 and body["truncated"] is True
    whole = query(api, shop, "admin", "SELECT count(*) FROM marts.sales_daily").json()
    assert whole["truncated"] is False


def test_arrow_on_request(api: Client, shop: Served) -> None:
    response = api.post(
        "/api/v1/query",
        json={"sql": "SELECT * FROM marts.finance_daily"},
        headers={**shop.headers("finance"), "Accept": ARROW},
    )
    assert response.status_code == 200 and response.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(response.content).read_all()
    body = query(api, shop, "finance", "SELECT * FROM marts.finance_daily").json()
    assert table.num_rows == body["row_count"] > 0
    assert table.column_names == [c["name"] for c in body["columns"]]


def test_values_are_json_safe(api: Client, shop: Served) -> None:
    sql = (
        "SELECT 'NaN'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, DATE '2025-01-02' AS day, "
        "TIMESTAMP '2025-01-02 03:04:05' AS ts, 12.34::DECIMAL(10, 2) AS money, "
        "INTERVAL 90 MINUTE AS span, [1.5, 'NaN'::DOUBLE] AS list, "
        "{'a': DATE '2025-01-03'} AS struct, NULL AS nothing"
    )
    response = query(api, shop, "admin", sql)
    assert response.status_code == 200, response.text
    row = dict(
        zip(
            [c["name"] for c in response.json()["columns"]], response.json()["rows"][0], strict=True
        )
    )
    assert row["nan"] is None and row["inf"] is None
    assert row["day"] == "2025-01-02" and row["ts"].startswith("2025-01-02T03:04:05")
    assert math.isclose(row["money"], 12.34) and row["span"] == "P0M0DT5400S"
    assert row["list"] == [1.5, None] and row["struct"] == {"a": "2025-01-03"}
    assert row["nothing"] is None


def test_times_outside_python_years_are_text_not_a_crash(api: Client, shop: Served) -> None:
    sql = (
        "SELECT 'infinity'::TIMESTAMP AS t, '-infinity'::TIMESTAMPTZ AS tz, "
        "TIMESTAMP '0001-01-01' - INTERVAL 1 DAY AS before_one, 'infinity'::DATE AS day, "
        "['infinity'::TIMESTAMP, TIMESTAMP '2025-01-02'] AS list, TIMESTAMP '2025-01-02' AS ok"
    )
    response = query(api, shop, "admin", sql)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [
        [
            "infinity",
            "-infinity",
            "0000-12-31 00:00:00.000000",
            "infinity",
            ["infinity", "2025-01-02T00:00:00"],
            "2025-01-02T00:00:00",
        ]
    ]
    for sql in (
        "SELECT 'infinity'::TIMESTAMP AS t",
        "SELECT TIMESTAMP '0001-01-01' - INTERVAL 1 DAY",
        "SELECT {'a': ['-infinity'::DATE]} AS s",
    ):
        answer = query(api, shop, "admin", sql)
        assert answer.status_code == 200, answer.text
        assert "infinity" in answer.text or "0000-12-31" in answer.text
    union = pa.UnionArray.from_sparse(
        pa.array([0], pa.int8()), [pa.array([2**63 - 1], pa.timestamp("us"))]
    )
    assert json_rows(pa.table({"u": union})) == [["infinity"]]


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(["s", "ms", "us"]),
    tz=st.sampled_from([None, "UTC", "Etc/UTC"]),
    micros=st.lists(
        st.one_of(
            st.none(),
            st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999),
            st.integers(0, 2_000_000_000).map(lambda s: s * 1_000_000),
        ),
        max_size=40,
    ),
)
def test_timestamps_are_written_by_arrow_as_python_writes_them(
    unit: str, tz: str | None, micros: list[int | None]
) -> None:
    """A UTC or naive timestamp column's JSON text, made column at a time, is ``isoformat``'s."""
    per = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
    column = pa.array([None if m is None else m // per for m in micros], pa.timestamp(unit, tz))
    expected = [[None if v is None else v.isoformat()] for v in column.to_pylist()]
    assert json_rows(pa.table({"t": column})) == expected


def test_values_arrow_cannot_hold_come_back_exact_as_text(api: Client, shop: Served) -> None:
    # Arrow has no 128-bit unsigned integer and no time with a time zone: DuckDB would hand
    # 2**128 - 1 over as -1 and drop the offset; the answer carries their exact text instead
    sql = (
        "SELECT 340282366920938463463374607431768211455::UHUGEINT AS big, "
        "12::UHUGEINT AS small, TIMETZ '12:30:00+02' AS at, [TIMETZ '01:00:00-05'] AS ats, "
        "170141183460469231731687303715884105727::HUGEINT AS signed"
    )
    response = query(api, shop, "admin", sql)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [
        [
            "340282366920938463463374607431768211455",
            "12",
            "12:30:00+02",
            ["01:00:00-05"],
            1.7014118346046923e38,
        ]
    ]


def test_a_previous_period_before_the_year_1_is_a_400(api: Client, shop: Served) -> None:
    for grain in ("day", "week", "month"):
        refused = assert_error(
            api.get(
                "/api/v1/kpis/net_sales",
                params={
                    "from": "0001-01-01",
                    "to": "0001-01-10",
                    "compare": "previous_period",
                    "grain": grain,
                },
                headers=shop.headers("admin"),
            ),
            400,
            "query_failed",
        )
        assert "year 1" in refused["message"] and "later date" in refused["fix"]


# -- tokens ---------------------------------------------------------------------------------
def test_missing_expired_and_revoked_tokens_are_401(
    api: Client, shop: Served, project: weir.Project
) -> None:
    sql = {"sql": "SELECT 1"}
    error = assert_error(api.post("/api/v1/query", json=sql), 401, "unauthorized")
    assert "weir token create" in error["fix"]
    response = api.post("/api/v1/query", json=sql, headers={"Authorization": "Basic abc"})
    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    tokens = project.access.tokens()
    _, expired = tokens.create("fay", "finance", expires=timedelta(-1))
    record, revoked = tokens.create("fay", "finance")
    assert api.post("/api/v1/query", json=sql, headers=_bearer(revoked)).status_code == 200
    tokens.revoke(record.token_id)
    for bearer, word in ((expired, "expired"), (revoked, "revoked"), ("weir_nonsense", "valid")):
        error = assert_error(
            api.post("/api/v1/query", json=sql, headers=_bearer(bearer)), 401, "unauthorized"
        )
        assert word in error["message"]
    assert_error(api.get("/api/v1/kpis", headers=_bearer(revoked)), 401)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_body_is_read_only_after_the_token_and_only_up_to_its_limit(
    api: Client, shop: Served
) -> None:
    pulled = 0

    async def chunks(count: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(count):
            pulled += 1
            yield b" " * size

    # 200 MB without a token: refused before the body is read
    anonymous = api.post("/api/v1/query", content=chunks(200))
    assert_error(anonymous, 401, "unauthorized")
    assert pulled <= 1
    declared = api.post(
        "/api/v1/query",
        content=b" " * 2_000_000,
        headers={**shop.headers("admin"), "Content-Type": "application/json"},
    )
    assert "2,000,000 bytes" in assert_error(declared, 413, "too_large")["message"]
    pulled = 0
    streamed = api.post("/api/v1/query", content=chunks(200), headers=shop.headers("admin"))
    assert_error(streamed, 413, "too_large")  # no Content-Length: counted while read
    assert pulled <= 3
    small = api.post(
        "/api/v1/query", json={"sql": "SELECT 1 AS one"}, headers=shop.headers("admin")
    )
    assert small.status_code == 200 and small.json()["rows"] == [[1]]


# -- the one error shape ----------------------------------------------------------------------
def test_every_error_path_has_the_one_shape(api: Client, shop: Served) -> None:
    auth = shop.headers("finance")
    assert_error(api.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(api.get("/api/v1/query", headers=auth), 405)
    bad_json = api.post(
        "/api/v1/query", content=b"{not json", headers={**auth, "Content-Type": "application/json"}
    )
    assert_error(bad_json, 422, "invalid_request")
    assert_error(api.post("/api/v1/query", json={"sql": ""}, headers=auth), 422)
    assert_error(api.post("/api/v1/query", json={"sql": "x", "limit": -1}, headers=auth), 422)
    assert_error(api.post("/api/v1/query", json={"sql": "x", "extra": 1}, headers=auth), 422)
    assert_error(api.get("/api/v1/datasets?limit=0", headers=auth), 422)
    typo = assert_error(api.get("/api/v1/datasets?limt=5", headers=auth), 422)
    assert typo["problems"][0]["where"] == "query.limt"
    twice = assert_error(api.get("/api/v1/datasets?limit=5&limit=7", headers=auth), 422)
    assert twice["problems"] == [
        {"where": "query.limit", "problem": "given 2 times; it takes one value"}
    ]
    # a parameter that takes a list is repeated by design
    by_two = api.get(
        "/api/v1/kpis/net_sales?by=region&by=product_type&grain=month",
        headers=shop.headers("admin"),
    )
    assert by_two.status_code == 200, by_two.text
    assert_error(api.post("/api/v1/query", json={"sql": "SELECT 1"}), 401)
    assert_error(api.get("/api/v1/audit", headers=auth), 403, "forbidden")
    assert_error(api.get("/api/v1/datasets/marts.sessions", headers=auth), 404)
    too_many = {"sql": "SELECT 1", "limit": 10_000_000}  # over the maximum the document declares
    over = assert_error(api.post("/api/v1/query", json=too_many, headers=auth), 422)
    assert over["problems"][0]["where"] == "body.limit"
    long_sql = {"sql": "SELECT 1" + " " * 200_000}
    assert_error(api.post("/api/v1/query", json=long_sql, headers=auth), 413, "too_large")
    for sql in (
        "SELEC 1",
        "SELECT nope FROM marts.finance_daily",
        "DROP TABLE marts.finance_daily",
    ):
        assert_error(api.post("/api/v1/query", json={"sql": sql}, headers=auth), 400)
    denied = api.post("/api/v1/query", json={"sql": "SELECT * FROM staging.pos"}, headers=auth)
    assert_error(denied, 403, "forbidden")
    as_of = {"sql": "SELECT 1", "as_of": "0001-01-01T00:00:00"}
    assert api.post("/api/v1/query", json=as_of, headers=auth).status_code in (200, 400)


def test_a_500_names_no_part_of_the_code(project: weir.Project) -> None:
    app = create_app(project)

    def broken() -> None:
        raise ZeroDivisionError("division by zero in weir/secret_module.py")

    app.add_api_route("/broken", broken)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            return await client.get("/broken")

    response = asyncio.run(send())
    error = assert_error(response, 500, "internal")
    assert "ZeroDivision" not in response.text and "secret_module" not in response.text
    assert "server log" in error["fix"]


# -- audit ---------------------------------------------------------------------------------------
def test_the_audit_endpoint_is_for_admins_and_holds_every_query(
    api: Client, shop: Served, project: weir.Project
) -> None:
    marker = "SELECT 42 AS audited_marker"
    assert query(api, shop, "support", marker).status_code == 200
    assert query(api, shop, "support", "SELECT * FROM marts.finance_daily").status_code == 403
    page = api.get(
        "/api/v1/audit",
        params={"kind": "query", "user": "sue", "limit": 2},
        headers=shop.headers("admin"),
    )
    assert page.status_code == 200, page.text
    first, second = page.json()["records"]
    assert first["allowed"] is False and first["reason"].startswith("denied: ")
    assert first["datasets"] == ["marts.finance_daily"] and first["role"] == "support"
    assert second["action"] == marker and second["allowed"] and second["rows"] == 1
    assert page.json()["next_before"] == second["seq"]
    for role in ROLES[:-1]:
        assert_error(api.get("/api/v1/audit", headers=shop.headers(role)), 403)
    assert project.audit.verify().ok


def test_the_openapi_document_describes_the_api(api: Client) -> None:
    document = api.get("/api/v1/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/query",
        "/api/v1/kpis",
        "/api/v1/kpis/{name}",
        "/api/v1/datasets",
        "/api/v1/datasets/{name}",
        "/api/v1/lineage/{name}",
        "/api/v1/audit",
    ):
        assert path in paths, path
    query_answers = paths["/api/v1/query"]["post"]["responses"]
    assert {"200", "400", "401", "403", "413", "422"} <= set(query_answers)
    assert "HTTPBearer" in document["components"]["securitySchemes"]


def test_concurrent_queries_each_answer_and_keep_one_audit_chain(
    api: Client, shop: Served, project: weir.Project
) -> None:
    roles = ["sales", "sales_north", "finance", "admin"] * 5
    tables = {
        "sales": "marts.sales_daily",
        "sales_north": "marts.sales_daily",
        "finance": "marts.finance_daily",
        "admin": "staging.pos",
    }
    before = project.audit.verify().records

    async def everyone() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/query",
                        json={"sql": f"SELECT count(*) AS n FROM {tables[role]}"},
                        headers=shop.headers(role),
                    )
                    for role in roles
                )
            )

    answers = asyncio.run(everyone())
    assert [a.status_code for a in answers] == [200] * len(roles)
    counts = {role: a.json()["rows"][0][0] for role, a in zip(roles, answers, strict=True)}
    assert 0 < counts["sales_north"] < counts["sales"]
    after = project.audit.verify()
    assert after.ok and after.records == before + len(roles)


# -- names that do not exist, and bad parameters: 4xx with what to do, never 500 --------------
def test_a_name_that_does_not_exist_is_not_found_with_what_was_asked(
    api: Client, shop: Served, project: weir.Project
) -> None:
    admin = shop.headers("admin")
    kpi = assert_error(api.get("/api/v1/kpis/net_sale", headers=admin), 404, "not_found")
    assert (kpi["kind"], kpi["name"], kpi["suggestion"]) == ("kpi", "net_sale", "net_sales")
    assert kpi["fix"] == "did you mean net_sales?"
    nothing = assert_error(api.get("/api/v1/kpis/zzz", headers=admin), 404, "not_found")
    assert (nothing["kind"], nothing["name"]) == ("kpi", "zzz") and "suggestion" not in nothing
    # a KPI outside the grants is never suggested: the same answer as for one that does not exist
    sales = shop.headers("sales")
    hidden = assert_error(api.get("/api/v1/kpis/revenue", headers=sales), 404, "not_found")
    assert hidden.get("suggestion") != "revenue"
    dataset = assert_error(
        api.get("/api/v1/datasets/marts.sales_dayly", headers=admin), 404, "not_found"
    )
    assert (dataset["kind"], dataset["name"], dataset["suggestion"]) == (
        "dataset",
        "marts.sales_dayly",
        "marts.sales_daily",
    )
    column = assert_error(
        api.get("/api/v1/lineage/marts.sales_daily.no_such_column", headers=admin), 404
    )
    assert (column["kind"], column["name"]) == ("column", "marts.sales_daily.no_such_column")
    # a source the collector does not know, with a valid write key
    key = project.access.write_keys().create(["web_traffic"]).key
    source = assert_error(
        api.post(
            "/collect/v1/web_trafic",
            json={"event_id": "e1"},
            headers={"Authorization": f"Bearer {key}"},
        ),
        404,
        "not_found",
    )
    assert "web_trafic" in source["message"]


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/api/v1/kpis/revenue?by=planet", None, 400),
        ("GET", "/api/v1/kpis/revenue?grain=decade", None, 422),
        ("GET", "/api/v1/kpis/revenue?from=2025-02-01&to=2025-01-01", None, 400),
        ("GET", "/api/v1/kpis/revenue?from=not-a-date", None, 422),
        ("GET", "/api/v1/kpis/revenue?compare=last_year", None, 422),
        ("GET", "/api/v1/kpis/revenue?as_of=yesterday", None, 422),
        ("GET", "/api/v1/datasets?limit=0", None, 422),
        ("GET", "/api/v1/datasets/not-a-name", None, 404),
        ("GET", "/api/v1/lineage/a.b.c.d", None, 404),
        ("GET", "/api/v1/audit?kind=nope", None, 422),
        ("GET", "/api/v1/audit?before=0", None, 422),
        ("POST", "/api/v1/query", {"sql": "SELECT * FROM staging.nope"}, 403),
        ("POST", "/api/v1/query", {"sql": "SELECT nope FROM marts.finance_daily"}, 400),
        ("POST", "/api/v1/query", {"sql": "SELEC 1"}, 400),
        ("POST", "/api/v1/query", {"sql": "SELECT 1", "limit": -1}, 422),
        ("POST", "/api/v1/query", {"sql": "SELECT 1", "limit": 100_001}, 422),
        ("POST", "/api/v1/query", {"sql": "SELECT 1", "as_of": 0}, 422),
        ("GET", "/api/v1/kpis/net_sales?from=0&to=20000", None, 422),
        ("GET", "/api/v1/kpis/net_sales?from=2025-1-1", None, 422),
        ("GET", "/api/v1/kpis/net_sales?as_of=1700000000", None, 422),
        ("POST", "/api/v1/query", {"sql": "SELECT 1", "as_of": "soon"}, 422),
        ("POST", "/api/v1/query", {"query": "SELECT 1"}, 422),
    ],
)
def test_a_bad_request_is_a_4xx_never_a_500(
    api: Client, shop: Served, method: str, url: str, body: dict[str, Any] | None, status: int
) -> None:
    response = api.request(method, url, json=body, headers=shop.headers("admin"))
    assert_error(response, status)


def test_a_kpi_range_of_too_many_periods_is_refused_and_answers_are_capped(
    api: Client, shop: Served, project: weir.Project
) -> None:
    # from year 1 to 9999 by day would be 3.65 M empty periods: refused before any work
    wide = {"from": "0001-01-01", "to": "9999-12-31", "grain": "day"}
    refused = assert_error(
        api.get("/api/v1/kpis/net_sales", params=wide, headers=shop.headers("admin")), 400
    )
    assert "more than the 10,000 one answer may hold" in refused["message"]
    assert "coarser grain" in refused["fix"]
    by_month = {"from": "2000-01-01", "to": "2025-12-31", "grain": "month"}
    assert api.get(
        "/api/v1/kpis/net_sales", params=by_month, headers=shop.headers("admin")
    ).is_success
    # an answer holds at most its limit of rows, and says so
    admin = project.access.policy().principal("ada")
    full = project.access.kpi(admin, "net_sales", "day", ["region"])
    assert full.table.num_rows > 2 and not full.truncated
    capped = project.access.kpi(admin, "net_sales", "day", ["region"], limit=2)
    assert capped.table.num_rows == 2 and capped.truncated
    assert capped.table.to_pylist() == full.table.slice(0, 2).to_pylist()
