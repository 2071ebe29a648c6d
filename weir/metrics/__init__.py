"""The metrics component: KPI definitions and the queries that answer them."""

from weir.metrics.definitions import (
    GRAINS,
    Catalogue,
    KpiDefinition,
    columns_read,
    load_catalogue,
)
from weir.metrics.query import KpiQuestion, answer, ask, kpi_sql

__all__ = [
    "GRAINS",
    "Catalogue",
    "KpiDefinition",
    "KpiQuestion",
    "answer",
    "ask",
    "columns_read",
    "kpi_sql",
    "load_catalogue",
]
