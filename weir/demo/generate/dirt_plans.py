"""What goes wrong in each of the reference retailer's sources, and how often.

Every bad value here must break its source's contract in exactly one
unambiguous way under ingestion's rules (an int is an integer literal, an
epoch a number below 1e11, a date ``YYYY-MM-DD``, values are trimmed): no
``"5"`` for an int, no ``nan`` or ``N/A`` that a reader might take for null,
no value that would pass a lenient cast.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from weir.demo.generate.dirt import CellDirt, EventPlan, ExtractPlan, TableDirt
from weir.demo.generate.records import Batch
from weir.demo.generate.timeline import DAY_MS

_FUTURE_FROM_MS = 2_082_758_400_000  # 2036-01-01
_FUTURE_UNTIL_MS = 2_240_524_800_000  # 2041-01-01


def future_epoch(rng: np.random.Generator, batch: Batch, rows: np.ndarray) -> Sequence[object]:
    """Epochs in 2036-2040: a device clock gone wrong."""
    return [
        int(ms) / 1000 for ms in rng.integers(_FUTURE_FROM_MS, _FUTURE_UNTIL_MS, size=len(rows))
    ]


def future_date(rng: np.random.Generator, batch: Batch, rows: np.ndarray) -> Sequence[object]:
    days = rng.integers(_FUTURE_FROM_MS // DAY_MS, _FUTURE_UNTIL_MS // DAY_MS, size=len(rows))
    return [str(d) for d in days.astype("datetime64[D]")]


def clock_text(rng: np.random.Generator, batch: Batch, rows: np.ndarray) -> Sequence[object]:
    """The record's own time as a date-time text instead of an epoch number."""
    texts = np.datetime_as_string(batch.context["ms"][rows].astype("datetime64[ms]"), unit="s")
    return [str(t).replace("T", " ") for t in texts]


def slashed_date(rng: np.random.Generator, batch: Batch, rows: np.ndarray) -> Sequence[object]:
    """The record's own date as DD/MM/YYYY."""
    days = batch.context["day_ms"][rows] // DAY_MS
    out = []
    for text in days.astype("datetime64[D]").astype(str):
        year, month, day = str(text).split("-")
        out.append(f"{day}/{month}/{year}")
    return out


def discount_over_revenue(
    rng: np.random.Generator, batch: Batch, rows: np.ndarray
) -> Sequence[object]:
    revenue = batch.context["revenue_cents"][rows]
    return [int(c) / 100 for c in revenue + rng.integers(1, 2_000, size=len(rows))]


POS = EventPlan(
    cells=(
        CellDirt("null_required", "transaction_id", (None,)),
        CellDirt("null_required", "store_id", (None,)),
        CellDirt("null_required", "product_id", (None,)),
        CellDirt("null_required", "quantity", (None,)),
        CellDirt("null_required", "revenue", (None,)),
        CellDirt("null_required", "timestamp", (None,)),
        CellDirt("wrong_type", "quantity", ("abc", "two", "1 unit")),
        CellDirt("wrong_type", "revenue", ("12,50", "EUR 19.99")),
        CellDirt("wrong_type", "timestamp", clock_text),
        CellDirt("wrong_type", "store_id", ("S012",)),
        CellDirt("out_of_range", "quantity", (0, -1)),
        CellDirt("out_of_range", "revenue", (-12.5, -0.01)),
        CellDirt("out_of_range", "customer_id", (0, -42)),
        CellDirt("out_of_range", "discount_applied", (-5.0,)),
        CellDirt("rule_violation", "discount_applied", discount_over_revenue),
        CellDirt("future_timestamp", "timestamp", future_epoch),
    ),
    cell_rate=0.009,
    malformed_rate=0.001,
    duplicate_rate=0.004,
)

INVENTORY = EventPlan(
    cells=(
        CellDirt("null_required", "inventory_id", (None,)),
        CellDirt("null_required", "product_id", (None,)),
        CellDirt("null_required", "warehouse_id", (None,)),
        CellDirt("null_required", "stock_level", (None,)),
        CellDirt("null_required", "last_updated", (None,)),
        CellDirt("wrong_type", "stock_level", ("abc", "twelve")),
        CellDirt("wrong_type", "warehouse_id", ("WH-2",)),
        CellDirt("out_of_range", "stock_level", (-3, -12)),
        CellDirt("out_of_range", "restock_threshold", (-1,)),
        CellDirt("out_of_range", "product_id", (0,)),
        CellDirt("future_timestamp", "last_updated", future_epoch),
    ),
    cell_rate=0.008,
    malformed_rate=0.001,
    extra_field_rate=0.001,
    extra_fields=(("note", "manual count"), ("scanner", "HH-07")),
    duplicate_rate=0.004,
    duplicate_reach=2,
)

ORDERS = EventPlan(
    cells=(
        CellDirt("null_required", "order_id", (None, "")),
        CellDirt("null_required", "order_date", (None,)),
        CellDirt("null_required", "product_id", (None, "")),
        CellDirt("null_required", "customer_id", (None, "")),
        CellDirt("null_required", "quantity", (None,)),
        CellDirt("null_required", "retail_price", (None,)),
        CellDirt("null_required", "tax_rate", (None,)),
        CellDirt("wrong_type", "quantity", ("two",)),
        CellDirt("wrong_type", "order_date", slashed_date),
        CellDirt("wrong_type", "retail_price", ("79,99",)),
        CellDirt("wrong_type", "customer_id", ("C123",)),
        CellDirt("out_of_range", "quantity", (0,)),
        CellDirt("out_of_range", "retail_price", (-5.0,)),
        CellDirt("out_of_range", "tax_rate", (1.2, -0.2)),
        CellDirt("future_timestamp", "order_date", future_date),
    ),
    cell_rate=0.01,
    extra_field_rate=0.002,
    extra_fields=(("coupon", "SPRING10"), ("gift_wrap", "yes")),
    duplicate_rate=0.004,
    duplicate_reach=1,
)

WEB_TRAFFIC = EventPlan(
    cells=(
        CellDirt("null_required", "session_id", (None, "")),
        CellDirt("null_required", "page", (None,)),
        CellDirt("null_required", "timestamp", (None,)),
        CellDirt("unknown_enum", "device_type", ("Smartwatch", "TV")),
        CellDirt("unknown_enum", "browser", ("Opera", "Brave")),
        CellDirt("unknown_enum", "event_type", ("Hover", "Swipe")),
        CellDirt(
            "regex_mismatch", "page", ("/Product/12", "/search?q=tote", "/category/Backpacks")
        ),
        CellDirt("regex_mismatch", "element", ("banner:summer-sale", "product:abc", "Add to cart")),
        CellDirt("wrong_type", "user_id", ("abc", "guest")),
        CellDirt("wrong_type", "timestamp", clock_text),
        CellDirt("out_of_range", "user_id", (0, -7)),
        CellDirt("future_timestamp", "timestamp", future_epoch),
    ),
    cell_rate=0.008,
    malformed_rate=0.001,
    extra_field_rate=0.001,
    extra_fields=(("referrer", "https://www.example.com/"), ("ab_test", "B")),
    duplicate_rate=0.004,
    duplicate_reach=1,
    missing_id_rate=0.01,
    id_column="event_id",
    late_rate=0.004,
    late_reach=6,
)

CRM_INTERACTIONS = EventPlan(
    cells=(
        CellDirt("null_required", "customer_id", (None,)),
        CellDirt("null_required", "interaction_type", (None, "")),
        CellDirt("null_required", "timestamp", (None,)),
        CellDirt("unknown_enum", "interaction_type", ("Refund", "Query")),
        CellDirt("unknown_enum", "channel", ("Fax", "Chat")),
        CellDirt("unknown_enum", "case_status", ("pending", "closed")),
        CellDirt("out_of_range", "rating", (9, 0, 6)),
        CellDirt("out_of_range", "customer_id", (0,)),
        CellDirt("wrong_type", "rating", ("five", "4 stars")),
        CellDirt("wrong_type", "customer_id", ("abc",)),
        CellDirt("future_timestamp", "timestamp", future_epoch),
    ),
    cell_rate=0.01,
    malformed_rate=0.001,
    extra_field_rate=0.001,
    extra_fields=(("sentiment", "positive"), ("agent", "A. Jones")),
    duplicate_rate=0.004,
    duplicate_reach=1,
    missing_id_rate=0.02,
    id_column="event_id",
)

STORES = ExtractPlan(
    fmt="csv",
    rate=0.004,
    cells=(
        CellDirt("null_required", "name", (None,)),
        CellDirt("null_required", "city", (None,)),
        CellDirt("null_required", "opened_on", (None,)),
        CellDirt("unknown_enum", "region", ("Northeast", "Midlands")),
        CellDirt("regex_mismatch", "country", ("GBR", "uk")),
        CellDirt("wrong_type", "opened_on", ("01/05/2019",)),
        CellDirt("wrong_type", "store_id", ("S01",)),
    ),
    malformed=True,
)

WAREHOUSES = ExtractPlan(
    fmt="jsonl",
    rate=0.01,
    cells=(
        CellDirt("null_required", "name", (None,)),
        CellDirt("null_required", "region", (None,)),
        CellDirt("unknown_enum", "region", ("Northeast",)),
        CellDirt("wrong_type", "warehouse_id", ("WH3",)),
    ),
    extra_fields=(("manager", "A. Smith"), ("capacity", 12_000)),
)

PRODUCTS = ExtractPlan(
    fmt="csv",
    rate=0.002,
    cells=(
        CellDirt("null_required", "name", (None,)),
        CellDirt("null_required", "type", (None,)),
        CellDirt("null_required", "cost_price", (None,)),
        CellDirt("null_required", "launched_on", (None,)),
        CellDirt("unknown_enum", "type", ("Bag", "Suitcase")),
        CellDirt("unknown_enum", "size", ("XXL", "Large")),
        CellDirt("wrong_type", "cost_price", ("12,50",)),
        CellDirt("wrong_type", "launched_on", ("2025/03/01",)),
        CellDirt("wrong_type", "product_id", ("P-17",)),
        CellDirt("out_of_range", "list_price", (-1.0,)),
        CellDirt("out_of_range", "cost_price", (-3.5,)),
    ),
    malformed=True,
)

CUSTOMERS = ExtractPlan(
    fmt="csv",
    rate=0.0005,
    cells=(
        CellDirt("regex_mismatch", "email", ("jane.doe(at)example.com", "no-email")),
        CellDirt("regex_mismatch", "country", ("GBR", "uk")),
        CellDirt("null_required", "customer_id", (None,)),
        CellDirt("null_required", "created_at", (None,)),
        CellDirt("wrong_type", "created_at", ("2024-03-02",)),
        CellDirt("wrong_type", "customer_id", ("C-1001",)),
        CellDirt("future_timestamp", "created_at", future_epoch),
        CellDirt("out_of_range", "customer_id", (0,)),
    ),
    malformed=True,
)

CUSTOMER_DEMOGRAPHICS: tuple[TableDirt, ...] = (
    TableDirt("out_of_range", "age", (12, 130, 7)),
    TableDirt("unknown_enum", "gender", ("unknown", "f")),
    TableDirt("unknown_enum", "marital_status", ("complicated",)),
    TableDirt("unknown_enum", "parental_status", ("maybe",)),
    TableDirt("null_required", "customer_id", (None,)),
)
CUSTOMER_DEMOGRAPHICS_RATE = 0.0003
