"""The SQL each model kind and each audit becomes."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from weir.engine import ident, lit
from weir.transform.model import Audit, Model

OPEN_START = "1970-01-01"
OPEN_END = "9999-12-31"


def build_sql(model: Model, columns: list[str], since: Since | None = None) -> str:
    """The SELECT producing the model's new rows (for incremental models: of the interval).

    For an SCD2 model, ``since`` asks for the versions that extracts after the
    last one built change (see ``scd2_sql``).
    """
    header = model.header
    if model.kind == "incremental_by_time":
        column = ident(str(header.time_column))
        return (
            f"SELECT * FROM ({model.sql}) AS model "
            f"WHERE {column} >= CAST($start AS DATE) AND {column} < CAST($end AS DATE)"
        )
    if model.kind == "scd2":
        return scd2_sql(model, columns, since)
    return f"SELECT * FROM ({model.sql}) AS model"


@dataclass(frozen=True)
class Since:
    """The last extract an SCD2 model was built from: its value (as text) and the column's type."""

    extract: str
    type: str


def scd2_sql(model: Model, columns: list[str], since: Since | None = None) -> str:
    """Versions of an entity from its state per extract day.

    A version is a run of consecutive extracts in which the entity is present
    and unchanged; it is valid from its first extract's day until the day of
    the first extract where the entity changed or was missing (exclusive).

    With ``since``, only the extracts after it are read, beside the model's
    current versions standing for the last extract built (each was present and
    unchanged in it, or it would be closed): the result is every version those
    extracts open or close, which replace the current ones. Closed versions
    never change, so a new day costs the new extracts and the current rows,
    not the whole history.
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
    # every column named, in the model's order: SQL any engine runs the same
    listed = ", ".join(ident(c) for c in columns)
    if since is None:
        src = f"SELECT {listed}, {version} AS _d FROM ({model.sql}) AS model"
    else:
        last = f"CAST({lit(since.extract)} AS {since.type})"
        this = exp.to_table(model.name).sql("duckdb")
        src = (
            f"SELECT {listed}, {last} AS _d FROM {this} WHERE is_current"
            f" UNION ALL SELECT {listed}, {version} AS _d FROM ({model.sql}) AS model"
            f" WHERE {version} > {last}"
        )
    keys = ", ".join(key)
    kept = ", ".join(f"grouped.{ident(c)}" for c in columns)
    window = f"PARTITION BY {keys} ORDER BY _i"
    return f"""
        WITH src AS ({src}),
        extracts AS (SELECT d, row_number() OVER (ORDER BY d) AS i FROM (SELECT DISTINCT _d AS d FROM src)),
        numbered AS (
            SELECT src.*, extracts.i AS _i, {fingerprint} AS _h
            FROM src JOIN extracts ON src._d = extracts.d),
        marked AS (
            SELECT *, CASE WHEN lag(_h) OVER ({window}) IS DISTINCT FROM _h
                            OR lag(_i) OVER ({window}) <> _i - 1 THEN 1 ELSE 0 END AS _new
            FROM numbered),
        grouped AS (SELECT *, sum(_new) OVER ({window}) AS _version FROM marked),
        spans AS (
            SELECT {keys}, _version, min(_i) AS _first, max(_i) AS _last
            FROM grouped GROUP BY {keys}, _version)
        SELECT {kept}, ends.d AS valid_to, ends.d IS NULL AS is_current
        FROM grouped JOIN spans USING ({keys}, _version)
        LEFT JOIN extracts AS ends ON ends.i = spans._last + 1
        WHERE grouped._i = spans._first"""


def scd2_extracts_sql(model: Model) -> str:
    """The newest extract (as text) and how many extracts an SCD2 model's source holds."""
    version = ident(str(model.header.valid_from))
    return f"SELECT CAST(max({version}) AS VARCHAR), count(DISTINCT {version}) FROM ({model.sql}) AS model"


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
