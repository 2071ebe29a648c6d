"""Masks: how a column classified pii looks to a role that may not see it, and the key behind them.

``hash`` is ``'pii_' || left(sha256(key || value), 16)``: the same value masks
the same way in every table, so masked columns still join and group, and
without the key nobody can hash a guess to compare. ``redact`` is a typed
null. The key is per project, sealed in the project's key store under its
master key, and reaches DuckDB as a session variable that no query may read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from weir.governance.policy import TableRule
from weir.metadata.keys import MASK_KEY, KeyStore

KEY_VARIABLE = "weir_mask_key"


def mask_key(keys: KeyStore) -> bytes:
    """The project's masking key, from its key store (made there on first use)."""
    return keys.key(MASK_KEY, "mask")


def scan_select(rule: TableRule, columns: Sequence[str], view: str) -> exp.Select:
    """What a role reads in place of a table: ``SELECT <columns, masked> FROM view WHERE <filter>``."""
    projections: list[exp.Expr] = []
    for column in columns:
        ident = exp.column(column, quoted=True)
        if column in rule.masked:
            masked = _hash(ident) if rule.mask == "hash" else _redact(ident)
            projections.append(exp.alias_(masked, column, quoted=True))
        else:
            projections.append(ident)
    select = exp.select(*projections).from_(exp.to_table(view, dialect="duckdb"))
    if rule.row_filter is not None:
        select = select.where(rule.row_filter.copy())
    return select


def _hash(column: exp.Column) -> exp.Expr:
    """``'pii_' || left(sha256(key || value), 16)``; null stays null."""
    key = exp.Anonymous(this="getvariable", expressions=[exp.Literal.string(KEY_VARIABLE)])
    text = exp.Cast(this=column.copy(), to=exp.DataType.build("text"))
    digest = exp.Anonymous(this="sha256", expressions=[exp.DPipe(this=key, expression=text)])
    short = exp.Anonymous(this="left", expressions=[digest, exp.Literal.number(16)])
    return exp.DPipe(this=exp.Literal.string("pii_"), expression=short, safe=True)


def _redact(column: exp.Column) -> exp.Expr:
    # a typed null: CASE with no true branch keeps the column's type and reads no value
    return exp.Case(ifs=[exp.If(this=exp.false(), true=column.copy())])
