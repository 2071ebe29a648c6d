"""The SQL each model kind and each audit becomes."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from weir.engine import ident, lit
from weir.transform.model import Audit, Model

OPEN_START = "1970-01-01"
OPEN_END = "9999-12-31"


def build_sql(model: Model, columns: list[str]) -> str:
    """The SELECT producing the model's new rows (for incremental models: of the interval)."""
    header = model.header
    if model.kind == "incremental_by_time":
        column = ident(str(header.time_column))
        return (
            f"SELECT * FROM ({model.sql}) AS model "
            f"WHERE {column} >= CAST($start AS DATE) AND {column} < CAST($end AS DATE)"
        )
    if model.kind == "scd2":
        return scd2_sql(model, columns)
    return f"SELECT * FROM ({model.sql}) AS model"


def scd2_sql(model: Model, columns: list[str]) -> str:
    """Versions of an entity from its state per extract day.

    A version is a run of consecutive extracts in which the entity is present
    and unchanged; it is valid from its first extract's day until the day of
    the first extract where the entity changed or was missing (exclusive).
    """
    key = [ident(k) for k in model.header.unique_key]
    version = ident(str(model.header.valid_from))
    tracked = [
        c for c in columns if c not in model.header.unique_key and c != model.header.valid_from
    ]
    fingerprint = (
        "md5(CAST(struct_pack("
        + ", ".join(f"{ident(c)} := {ident(c)}" for c in tracked)
        + ") AS VARCHAR))"
    )
    keys = ", ".join(key)
    window = f"PARTITION BY {keys} ORDER BY _i"
    return f"""
        WITH src AS (SELECT * FROM ({model.sql}) AS model),
        extracts AS (SELECT d, row_number() OVER (ORDER BY d) AS i FROM (SELECT DISTINCT {version} AS d FROM src)),
        numbered AS (
            SELECT src.*, extracts.i AS _i, {fingerprint} AS _h
            FROM src JOIN extracts ON src.{version} = extracts.d),
        marked AS (
            SELECT *, CASE WHEN lag(_h) OVER ({window}) IS DISTINCT FROM _h
                            OR lag(_i) OVER ({window}) <> _i - 1 THEN 1 ELSE 0 END AS _new
            FROM numbered),
        grouped AS (SELECT *, sum(_new) OVER ({window}) AS _version FROM marked),
        spans AS (SELECT {keys}, _version, min(_i) AS _first, max(_i) AS _last FROM grouped GROUP BY ALL)
        SELECT grouped.* EXCLUDE (_i, _h, _new, _version), ends.d AS valid_to, ends.d IS NULL AS is_current
        FROM grouped JOIN spans USING ({keys}, _version)
        LEFT JOIN extracts AS ends ON ends.i = spans._last + 1
        WHERE grouped._i = spans._first"""


def audit_sql(audit: Audit, this: str) -> str:
    """A query returning the rows that fail ``audit`` (none when it passes)."""
    if audit.not_null is not None:
        nulls = " OR ".join(f"{ident(c)} IS NULL" for c in audit.not_null)
        return f"SELECT * FROM {this} WHERE {nulls}"
    if audit.unique is not None:
        columns = ", ".join(ident(c) for c in audit.unique)
        return f"SELECT {columns}, count(*) AS copies FROM {this} GROUP BY {columns} HAVING count(*) > 1"
    if audit.accepted_values is not None:
        values = ", ".join(
            lit(v) if isinstance(v, str) else repr(v) for v in audit.accepted_values.values
        )
        return f"SELECT * FROM {this} WHERE {ident(audit.accepted_values.column)} NOT IN ({values})"
    if audit.relationships is not None:
        rel = audit.relationships
        target = exp.to_table(rel.to).sql("duckdb")
        column = ident(rel.column)
        return (
            f"SELECT * FROM {this} AS t WHERE t.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {target} AS r WHERE r.{ident(rel.field)} = t.{column})"
        )
    if audit.sql is not None:
        tree = sqlglot.parse_one(audit.sql, read="duckdb")
        for table in tree.find_all(exp.Table):
            if table.name == "this" and not table.db:
                table.replace(exp.to_table(this).as_(table.alias or "this"))
        return tree.sql("duckdb")
    raise AssertionError(audit)


def describe_audit(audit: Audit) -> str:
    value = getattr(audit, audit.kind)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return f"{audit.kind}: {value}"
