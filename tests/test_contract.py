"""Each check of a contract says what it found, in words; pii and pci values are never echoed.

The contract's SQL runs in a real DuckDB over a small text table shaped like a reader's
output; the last tests go through ``Project.ingest`` with the example contracts.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from conftest import T0, assert_counts, ingest_one, land, pos_csv, pos_line, rows
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.ingest import Contract
from weir.project import SourceConfig, load_project

NOW = T0 + 86400.0
OUT_OF_RANGE = "is out of range (the lake holds 0001-01-01 to 9999-12-31 23:59:59.999999 UTC)"


def reasons_of(source: SourceConfig, *records: dict[str, Any], now: float = NOW) -> list[list[str]]:
    """Run the contract of ``source`` over text records; each record's reasons."""
    return [list(r["_reasons"]) for r in checked(source, *records, now=now)]


def checked(
    source: SourceConfig, *records: dict[str, Any], now: float = NOW
) -> list[dict[str, Any]]:
    """Run the contract of ``source`` over text records; the typed records with their reasons.

    The input has the shape every reader produces: one text column per field, then
    ``_raw``, ``_problem``, ``_source_file``, ``_offset`` (and ``<card column>_last4``).
    """
    text_columns = [*source.column_names, "_raw", "_problem", "_source_file"]
    # an entity extract's date comes from its file name
    default_file = f"landing/{source.name}/{source.name}_2025-01-01.csv"
    table = pa.table(
        {
            **{
                name: pa.array(
                    [None if r.get(name) is None else str(r[name]) for r in records]
                    if name != "_source_file"
                    else [r.get(name, default_file) for r in records],
                    pa.string(),
                )
                for name in text_columns
            },
            "_offset": pa.array(range(len(records)), pa.int64()),
            "_seq": pa.array(range(len(records)), pa.int64()),
            **{
                f"{c.name}_last4": pa.nulls(len(records), pa.string())
                for c in source.columns
                if c.classification == "pci"
            },
        }
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("incoming", table)
        result = con.sql(Contract(source).checked_sql("incoming", now)).to_arrow_table()
    return result.sort_by("_seq").to_pylist()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceConfig]:
    return load_project(weir.init_project(tmp_path_factory.mktemp("contract") / "shop")).sources


def pos(**fields: Any) -> dict[str, Any]:
    record = {
        "transaction_id": "t1",
        "store_id": "1",
        "product_id": "10",
        "quantity": "2",
        "revenue": "9.99",
        "discount_applied": None,
        "timestamp": str(T0),
        "customer_id": None,
        "card_number": None,
    }
    record.update(fields)
    return record


def crm(**fields: Any) -> dict[str, Any]:
    record = {
        "event_id": "e1",
        "customer_id": "7",
        "interaction_type": "Feedback",
        "channel": "App",
        "rating": "4",
        "message_excerpt": "thanks",
        "case_id": None,
        "case_status": None,
        "timestamp": str(T0),
    }
    record.update(fields)
    return record


def one(source: SourceConfig, record: dict[str, Any]) -> list[str]:
    [reasons] = reasons_of(source, record)
    return reasons


def test_a_valid_record_has_no_reasons(example: dict[str, SourceConfig]) -> None:
    assert reasons_of(example["pos"], pos(), pos(discount_applied="1.5", customer_id="3")) == [
        [],
        [],
    ]
    assert one(example["crm_interactions"], crm()) == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": None}, "quantity: missing (required)"),
        ({"quantity": "   "}, "quantity: missing (required)"),
        ({"quantity": "abc"}, "quantity: 'abc' is not an int"),
        ({"quantity": "1.5"}, "quantity: '1.5' is not an int"),
        ({"quantity": "0"}, "quantity: 0 is below the minimum 1"),
        ({"revenue": "abc"}, "revenue: 'abc' is not a float"),
        ({"revenue": "nan"}, "revenue: 'nan' is not a float"),
        ({"revenue": "-0.5"}, "revenue: -0.5 is below the minimum 0"),
        ({"timestamp": "yesterday"}, "timestamp: 'yesterday' is not an epoch"),
        ({"timestamp": "4102444800"}, "timestamp: 2100-01-01 00:00:00+00 is in the future"),
        ({"quantity": "1e30"}, "quantity: '1e30' is not an int"),
        ({"quantity": "99999999999999999999"}, "quantity: '99999999999999999999' is not an int"),
        ({"revenue": "1e400"}, "revenue: '1e400' is not a float"),
        ({"timestamp": "-62135596801"}, f"timestamp: '-62135596801' {OUT_OF_RANGE}"),
        ({"timestamp": "-99999999999"}, f"timestamp: '-99999999999' {OUT_OF_RANGE}"),
        (
            {"discount_applied": "20"},
            "rule discount_within_revenue: discount_applied is larger than revenue",
        ),
    ],
)
def test_pos_check(example: dict[str, SourceConfig], fields: dict[str, Any], reason: str) -> None:
    assert one(example["pos"], pos(**fields)) == [reason]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"rating": "9"}, "rating: 9 is above the maximum 5"),
        ({"rating": "0"}, "rating: 0 is below the minimum 1"),
        (
            {"interaction_type": "Visit"},
            "interaction_type: 'Visit' is not one of Feedback, Loyalty, Complaint",
        ),
        ({"channel": "Fax"}, "channel: 'Fax' is not one of Email, App, Phone"),
        ({"customer_id": None}, "customer_id: missing (required)"),
    ],
)
def test_crm_check(example: dict[str, SourceConfig], fields: dict[str, Any], reason: str) -> None:
    assert one(example["crm_interactions"], crm(**fields)) == [reason]


def test_regex_check(example: dict[str, SourceConfig]) -> None:
    web = example["web_traffic"]
    record = {"event_id": "e1", "session_id": "s1", "page": "/shop", "timestamp": str(T0)}
    pattern = web.column("page").regex
    assert one(web, record) == [f"page: '/shop' does not match {pattern}"]
    assert one(web, {**record, "page": "/product/12"}) == []


def test_date_and_bool_casts() -> None:
    source = SourceConfig.model_validate(
        {
            "name": "things",
            "format": "csv",
            "location": "landing/things/*.csv",
            "key": ["id"],
            "columns": [
                {"name": "id", "type": "int", "nullable": False},
                {"name": "day", "type": "date", "not_future": True},
                {"name": "flag", "type": "bool"},
            ],
        }
    )
    assert reasons_of(
        source,
        {"id": "1", "day": "2025-01-01", "flag": "yes"},
        {"id": "2", "day": "2025-13-01", "flag": "maybe"},
        {"id": "3", "day": "2100-01-01", "flag": "F"},
    ) == [
        [],
        ["day: '2025-13-01' is not a date (YYYY-MM-DD)", "flag: 'maybe' is not a bool"],
        ["day: 2100-01-01 is in the future"],
    ]


def test_times_and_dates_the_lake_cannot_hold_are_out_of_range(
    example: dict[str, SourceConfig],
) -> None:
    # 0000-12-31 23:59:59 UTC: DuckDB reads it, Iceberg's statistics (Python's datetime) cannot
    assert one(example["pos"], pos(timestamp="-62135596800")) == []  # 0001-01-01, the first
    assert one(example["pos"], pos(timestamp="-62135596800.5")) == [
        f"timestamp: '-62135596800.5' {OUT_OF_RANGE}"
    ]
    orders = example["orders"]
    valid = orders_record(orders)
    assert one(orders, valid) == []
    assert one(orders, {**valid, "order_date": "0001-01-01"}) == []
    assert one(orders, {**valid, "order_date": "0000-12-31"}) == [
        f"order_date: '0000-12-31' {OUT_OF_RANGE}"
    ]


def orders_record(orders: SourceConfig) -> dict[str, Any]:
    """A valid record of the example's orders source, built from its contract."""
    values = {"string": "x", "int": "1", "float": "1.0", "bool": "true", "epoch": str(T0)}
    record: dict[str, Any] = {}
    for column in orders.columns:
        if column.type == "date":
            record[column.name] = "2025-01-01"
        elif column.enum is not None:
            record[column.name] = column.enum[0]
        else:
            record[column.name] = values[column.type]
    return record


def test_not_future_allows_an_hour_of_clock_skew(example: dict[str, SourceConfig]) -> None:
    now = float(T0)
    assert reasons_of(
        example["pos"],
        pos(timestamp=str(T0 + 3599)),
        pos(timestamp=str(T0 + 3601)),
        now=now,
    ) == [[], ["timestamp: 2025-01-01 13:00:01+00 is in the future"]]


def test_rule_without_a_message_shows_its_check() -> None:
    source = SourceConfig.model_validate(
        {
            "name": "spans",
            "format": "csv",
            "location": "landing/spans/*.csv",
            "key": ["id"],
            "columns": [
                {"name": "id", "type": "int", "nullable": False},
                {"name": "lo", "type": "int"},
                {"name": "hi", "type": "int"},
            ],
            "rules": [{"name": "ordered", "check": "lo <= hi"}],
        }
    )
    assert reasons_of(
        source,
        {"id": "1", "lo": "1", "hi": "2"},
        {"id": "2", "lo": "3", "hi": "2"},
        {"id": "3", "lo": None, "hi": "2"},
    ) == [
        [],
        ["rule ordered: failed: lo <= hi"],
        [],  # a rule over a null is not broken
    ]


def test_a_record_breaking_several_rules_lists_all_of_them(
    example: dict[str, SourceConfig],
) -> None:
    record = pos(
        store_id=None,
        quantity="abc",
        revenue="-1",
        discount_applied="5",
        timestamp="4102444800",
        customer_id="0",
    )
    assert one(example["pos"], record) == [
        "store_id: missing (required)",
        "quantity: 'abc' is not an int",
        "revenue: -1.0 is below the minimum 0",
        "timestamp: 2100-01-01 00:00:00+00 is in the future",
        "customer_id: 0 is below the minimum 1",
        "rule discount_within_revenue: discount_applied is larger than revenue",
    ]


def test_a_reader_problem_is_the_only_reason(example: dict[str, SourceConfig]) -> None:
    reasons = one(
        example["inventory"],
        {"_raw": "{oops", "_problem": "malformed JSON: the line does not parse"},
    )
    assert reasons == ["malformed JSON: the line does not parse"]  # not also every missing field


def test_a_nullable_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="key column 'id' may be null"):
        SourceConfig.model_validate(
            {
                "name": "things",
                "format": "csv",
                "location": "x/*.csv",
                "key": ["id"],
                "columns": [{"name": "id", "type": "int"}],
            }
        )


def test_entity_file_name_must_carry_the_extract_date(example: dict[str, SourceConfig]) -> None:
    record = {"warehouse_id": "1", "name": "Leeds", "region": "North"}
    assert one(
        example["warehouses"], {**record, "_source_file": "landing/warehouses/warehouses.json"}
    ) == ["file name carries no extract date: name entity extracts like products_YYYY-MM-DD.csv"]
    assert (
        one(
            example["warehouses"],
            {**record, "_source_file": "landing/warehouses/w_2025-01-31.json"},
        )
        == []
    )


# -- personal and payment data is not echoed --------------------------------------------------
def test_pii_values_are_withheld_in_reasons(example: dict[str, SourceConfig]) -> None:
    customers = example["customers"]
    record = {
        "customer_id": "1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada.at.example.com",
        "phone": "+44 20 7946 0958",
        "address": "12 Analytical Row",
        "country": "gb",
        "created_at": str(T0),
    }
    email_regex = customers.column("email").regex
    assert one(customers, record) == [
        f"email: (value withheld: pii) does not match {email_regex}",
        "country: 'gb' does not match ^[A-Z]{2}$",  # not personal: shown
    ]
    demographics = example["customer_demographics"]
    assert reasons_of(
        demographics,
        {
            "customer_id": "1",
            "age": "forty",
            "gender": "robot",
            "marital_status": "single",
            "parental_status": "parent",
        },
        {
            "customer_id": "2",
            "age": "111",
            "gender": "female",
            "marital_status": "single",
            "parental_status": "parent",
        },
    ) == [
        [
            "age: (value withheld: pii) is not an int",
            "gender: (value withheld: pii) is not one of female, male, non-binary, undisclosed",
        ],
        ["age: (value withheld) is above the maximum 110"],
    ]


def test_personal_dates_in_the_future_are_withheld() -> None:
    source = SourceConfig.model_validate(
        {
            "name": "members",
            "format": "csv",
            "location": "landing/members/*.csv",
            "key": ["id"],
            "columns": [
                {"name": "id", "type": "int", "nullable": False},
                {"name": "born_on", "type": "date", "classification": "pii", "not_future": True},
                {"name": "card", "type": "string", "classification": "pci", "regex": "^[0-9]{16}$"},
            ],
        }
    )
    assert one(source, {"id": "1", "born_on": "2099-12-31", "card": "4111-1111-1111-1111"}) == [
        "born_on: (value withheld) is in the future",
        "card: (value withheld: pci) does not match ^[0-9]{16}$",
    ]


def test_quarantine_of_an_ingested_batch_echoes_no_personal_value(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "customers",
        "customers_2025-01-01.csv",
        (
            "customer_id,first_name,last_name,email,phone,address,country,created_at\n"
            f"1,Ada,Lovelace,ada.lovelace-at-example.com,+44 20 7946 0958,12 Analytical Row,GB,{T0}\n"
            f"2,Grace,Hopper,grace@example.com,+1 555 0100,1 Navy Yard,US,{T0 + 10**9}\n"
        ),
    )
    result = ingest_one(project, "customers")
    assert_counts(result, received=2, accepted=0, quarantined=2, duplicates=0)
    reasons = [
        r
        for row in rows(project, "SELECT _reasons FROM quarantine.customers")
        for r in row["_reasons"]
    ]
    assert sorted(reasons) == sorted(
        [
            f"email: (value withheld: pii) does not match {project.files.source('customers').column('email').regex}",
            f"created_at: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(T0 + 10**9))}+00 is in the future",
        ]
    )
    for secret in ("ada.lovelace-at-example.com", "Lovelace", "Hopper", "7946", "Analytical"):
        assert not any(secret in r for r in reasons)


def test_pos_reasons_through_ingest(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("t1", quantity="abc"),
            pos_line("t2", quantity="1.5"),
            pos_line("t3", revenue="5", discount_applied="6"),
            pos_line("t4"),
        ),
    )
    assert_counts(ingest_one(project, "pos"), received=4, accepted=1, quarantined=3, duplicates=0)
    assert rows(project, "SELECT transaction_id, _reasons FROM quarantine.pos ORDER BY 1") == [
        {"transaction_id": "t1", "_reasons": ["quantity: 'abc' is not an int"]},
        {"transaction_id": "t2", "_reasons": ["quantity: '1.5' is not an int"]},
        {
            "transaction_id": "t3",
            "_reasons": ["rule discount_within_revenue: discount_applied is larger than revenue"],
        },
    ]


def test_a_time_before_year_one_is_quarantined_through_ingest(
    project_root: Path, project: weir.Project
) -> None:
    year_zero = pos_line("t1", timestamp=-62135596801)
    land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(year_zero, pos_line("t2")))
    assert_counts(ingest_one(project, "pos"), received=2, accepted=1, quarantined=1, duplicates=0)
    assert rows(project, "SELECT transaction_id, _reasons FROM quarantine.pos") == [
        {"transaction_id": "t1", "_reasons": [f"timestamp: '-62135596801' {OUT_OF_RANGE}"]}
    ]
    assert rows(project, "SELECT transaction_id FROM staging.pos") == [{"transaction_id": "t2"}]
    # the lake takes the next batch: nothing of the refused value reached it
    land(project_root, "pos", "pos_2025-01-02_store001.csv", pos_csv(pos_line("t3")))
    assert_counts(ingest_one(project, "pos"), received=1, accepted=1, quarantined=0, duplicates=0)


# -- properties ---------------------------------------------------------------------------------
INT_TEXT = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.text(alphabet="0123456789+-. eE", max_size=12),
    st.none(),
)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(INT_TEXT, min_size=1, max_size=20))
def test_an_int_column_either_casts_exactly_or_says_why(values: list[str | None]) -> None:
    source = SourceConfig.model_validate(
        {
            "name": "counts",
            "format": "csv",
            "location": "x/*.csv",
            "key": ["n"],
            "columns": [{"name": "n", "type": "int", "nullable": False}],
        }
    )
    results = checked(source, *({"n": v} for v in values))
    for value, got in zip(values, results, strict=True):
        text = (value or "").strip()
        if not text:
            assert got["_reasons"] == ["n: missing (required)"]
        elif re.fullmatch(r"[+-]?[0-9]{1,18}", text):
            assert (got["n"], got["_reasons"]) == (int(text), [])
        else:
            assert value is not None
            assert (got["n"], got["_reasons"]) == (None, [f"n: '{value[:60]}' is not an int"])
