"""The conditions alerts computes itself: a KPI past its threshold, a stockout, a broken audit chain.

- ``kpi_threshold``: the KPI's value in its latest complete period (a period
  that has ended by the evaluation time and has a value), from the marts as
  ``project.kpis`` answers it;
- ``stockout``: each (warehouse, product) pair of ``marts.stock_daily`` on its
  latest day up to the evaluation time, firing when the stock is zero or at
  or below the pair's restock threshold, read through the lake as every
  other reader does;
- ``audit_failed``: the audit log's hash chain, verified;
- ``pii_found``: each column the latest catalog scan (``weir catalog scan``)
  flagged, holding personal or card data its classification does not declare;
  resolved when a later scan no longer flags it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from weir.alerts.records import Condition, as_utc
from weir.governance.scan import Finding, read_findings
from weir.lake import Lake, LakeViews
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metrics.service import Kpis
from weir.project.alerts import AlertRuleConfig

STOCK_MART = "marts.stock_daily"
AUDIT_SUBJECT = "audit log"
# how far back a kpi_threshold looks for its latest complete period
_LOOKBACK = {"day": timedelta(days=35), "week": timedelta(weeks=10), "month": timedelta(days=400)}


def period_end(period: date, grain: str) -> date:
    """The first day after ``period`` (the first day of a day, an ISO week or a month)."""
    if grain == "day":
        return period + timedelta(days=1)
    if grain == "week":
        return period + timedelta(days=7)
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def kpi_threshold(rule: AlertRuleConfig, kpis: Kpis, now: datetime) -> list[Condition]:
    """The rule's KPI in its latest complete period, against ``below``/``above``; none without data.

    The condition's detail names the rule, so two thresholds on one KPI stay apart.
    """
    assert rule.kpi is not None
    today = as_utc(now).date()
    answer = kpis.answer(
        rule.kpi, rule.grain, start=today - _LOOKBACK[rule.grain], end=today - timedelta(days=1)
    )
    latest: tuple[date, float] | None = None
    for row in answer.select(["period", "value"]).to_pylist():
        period, value = row["period"], row["value"]
        if value is None or period_end(period, rule.grain) > today:
            continue
        if latest is None or period > latest[0]:
            latest = (period, float(value))
    if latest is None:
        return []
    period, value = latest
    low = rule.below is not None and value < rule.below
    high = rule.above is not None and value > rule.above
    bounds = " and ".join(
        f"{word} {limit:g}"
        for word, limit in (("below", rule.below), ("above", rule.above))
        if limit is not None
    )
    where = f"{rule.kpi} for the {rule.grain} of {period.isoformat()} is {value:.4g}"
    if low:
        message = f"{where}: under {rule.below:g}"
    elif high:
        message = f"{where}: over {rule.above:g}"
    else:
        message = f"{where}: within bounds ({bounds})"
    detail: dict[str, Any] = {"rule": rule.name, "kpi": rule.kpi, "grain": rule.grain}
    detail.update({"period": period.isoformat(), "value": value})
    detail.update({"below": rule.below, "above": rule.above})
    return [Condition("kpi_threshold", rule.kpi, low or high, message, at=now, detail=detail)]


def stockouts(lake: Lake, now: datetime, warehouses: list[int] | None = None) -> list[Condition]:
    """Every (warehouse, product) pair on the mart's latest day up to ``now``: firing when out or low."""
    layer, name = STOCK_MART.split(".")
    if not lake.exists(layer, name):
        return []
    views = LakeViews(lake)
    session, _ = views.session([STOCK_MART])
    try:
        table = views.view_sql(STOCK_MART)
        today = as_utc(now).date().isoformat()  # an ISO date weir made: safe as a literal
        rows = session.arrow(
            "SELECT day, warehouse_id, product_id, stock_level, restock_threshold "
            f"FROM {table} WHERE day = (SELECT max(day) FROM {table} WHERE day <= DATE '{today}') "
            "ORDER BY warehouse_id, product_id"
        ).to_pylist()
    finally:
        session.close()
        views.close()
    found = []
    for row in rows:
        if warehouses is not None and row["warehouse_id"] not in warehouses:
            continue
        found.append(_stock_condition(row, now))
    return found


def _stock_condition(row: dict[str, Any], now: datetime) -> Condition:
    level, threshold = row["stock_level"], row["restock_threshold"]
    subject = f"warehouse {row['warehouse_id']} / product {row['product_id']}"
    if level <= 0:
        firing, why = True, f"out of stock on {row['day']}"
    elif threshold is not None and level <= threshold:
        firing, why = (
            True,
            f"{level} left on {row['day']}, at or below its restock threshold {threshold}",
        )
    else:
        firing, why = False, f"{level} in stock on {row['day']}"
    detail = {
        "warehouse_id": row["warehouse_id"],
        "product_id": row["product_id"],
        "day": row["day"].isoformat(),
        "stock_level": level,
        "restock_threshold": threshold,
    }
    return Condition("stockout", subject, firing, f"{subject}: {why}", at=now, detail=detail)


def audit_chain(audit: AuditLog, now: datetime) -> list[Condition]:
    """One condition: the audit log's hash chain verifies, or names the first record that does not."""
    result = audit.verify()
    detail = {"records": result.records, "bad_seq": result.bad_seq, "problem": result.problem}
    return [
        Condition(
            "audit_failed", AUDIT_SUBJECT, not result.ok, str(result), "critical", now, detail
        )
    ]


def pii_found(store: MetadataStore, still_open: Iterable[str], now: datetime) -> list[Condition]:
    """One condition per column the latest scan flagged; open ones no longer flagged resolve.

    The subject is ``layer.table.column``; card data is an error, the rest a warning.
    """
    by_column: dict[str, list[Finding]] = {}
    for finding in read_findings(store):
        by_column.setdefault(f"{finding.dataset}.{finding.column}", []).append(finding)
    found = []
    for subject, findings in by_column.items():
        kinds = ", ".join(
            f"{f.kind} in {f.matches} of {f.sampled} sampled values (confidence {f.confidence:g})"
            for f in findings
        )
        declared = findings[0].classification or "not classified"
        card = any(f.kind == "card" for f in findings)
        detail: dict[str, Any] = {
            "dataset": findings[0].dataset,
            "column": findings[0].column,
            "classification": findings[0].classification,
            "kinds": {f.kind: f.matches for f in findings},
            "sampled": findings[0].sampled,
        }
        message = (
            f"{subject} ({declared}) holds {kinds}: classify it in its contract, or fix it upstream"
        )
        found.append(
            Condition(
                "pii_found", subject, True, message, "error" if card else "warning", now, detail
            )
        )
    for subject in still_open:
        if subject not in by_column:
            message = f"{subject}: no longer flagged by the latest scan"
            found.append(Condition("pii_found", subject, False, message, "warning", now, {}))
    return found
