"""weir's SQL (DuckDB's dialect) in another engine's dialect, or a refusal saying why not.

Models, audits and the SQL weir writes for the model kinds are written in
DuckDB's dialect. An engine that speaks another one (``Capabilities.dialect``)
gets them transpiled by SQLGlot, with the rewrites below where SQLGlot's
plain transpilation would run but mean something else. What neither SQLGlot
nor a rewrite carries over with its meaning is refused before anything runs
(``untranslatable``): a wrong number is worse than no number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
import sqlglot.errors
from sqlglot import exp

from weir.engine.sql import DIALECT, PARSE_ERRORS


@dataclass(frozen=True)
class Untranslatable:
    """A construct of a statement that another dialect cannot run with the same meaning."""

    line: int  # in the statement, from 1
    construct: str  # as written, e.g. ``isoyear(...)``
    why: str


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _plus_one(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=exp.Add(this=node, expression=exp.Literal.number(1)))


def _minus_one(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=exp.Sub(this=node, expression=exp.Literal.number(1)))


def _ieee_division(dividend: exp.Expr, divisor: exp.Expr) -> exp.Expr:
    """DuckDB's ``/``: a DOUBLE, and x / 0 is +-inf (NaN for 0 / 0), as IEEE 754 says.

    Spark's ``/`` keeps decimals decimal and fails (ANSI) or gives NULL on a zero
    divisor; this gives DuckDB's answer in both cases.
    """
    a = exp.cast(dividend.copy(), "DOUBLE")
    b = exp.cast(divisor.copy(), "DOUBLE")
    infinite = exp.Mul(this=a.copy(), expression=exp.cast(exp.Literal.string("Infinity"), "DOUBLE"))
    return exp.Paren(
        this=exp.Case(
            ifs=[
                exp.If(this=exp.EQ(this=b.copy(), expression=exp.Literal.number(0)), true=infinite)
            ],
            default=exp.Div(this=a, expression=b),
        )
    )


# DuckDB functions SQLGlot does not know (it would pass them on as they are), and the
# Spark expression with the same meaning.
_SPARK_FUNCTIONS: dict[str, Callable[[list[exp.Expr]], exp.Expr]] = {
    "epoch_us": lambda a: _call("UNIX_MICROS", *a),
    "epoch_ms": lambda a: _call("UNIX_MILLIS", *a),
    # the ISO 8601 week-numbering year
    "isoyear": lambda a: exp.Extract(this=exp.var("YEAROFWEEK"), expression=a[0]),
    "now": lambda a: exp.CurrentTimestamp(),
    "today": lambda a: exp.CurrentDate(),
}


def _spark_rewrite(node: exp.Expr) -> exp.Expr:
    """One node in Spark's terms, where SQLGlot's own output would change its meaning."""
    if isinstance(node, exp.DayOfWeekIso):  # Monday 1 … Sunday 7; Spark's weekday: Monday 0
        return _plus_one(_call("WEEKDAY", node.this))
    if isinstance(node, exp.DayOfWeek):  # DuckDB: Sunday 0 … Saturday 6; Spark: Sunday 1
        return _minus_one(_call("DAYOFWEEK", node.this))
    if isinstance(node, exp.Dayname):  # DuckDB: 'Monday'; Spark's dayname: 'Mon'
        return _call("DATE_FORMAT", node.this, exp.Literal.string("EEEE"))
    if isinstance(node, exp.Div) and not isinstance(node.parent, exp.Interval):
        return _ieee_division(node.this, node.expression)
    if isinstance(node, exp.PercentileCont) and isinstance(node.expression, exp.Literal):
        # quantile_cont(x, q): interpolated, as Spark's exact percentile
        return _call("PERCENTILE", node.this, node.expression)
    if isinstance(node, exp.Anonymous):
        rewrite = _SPARK_FUNCTIONS.get(node.name.lower())
        if rewrite is not None:
            return rewrite(list(node.expressions))
    return node


# What no dialect but DuckDB's runs with its meaning, by the SQLGlot node it parses to.
_REFUSED: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.JSONExtract, "JSON path arrows (->, ->>) differ between engines"),
    (exp.JSONExtractScalar, "JSON path arrows (->, ->>) differ between engines"),
)


def _refusal(node: exp.Expr, dialect: str) -> str | None:
    """Why ``node`` cannot be carried into ``dialect`` with its meaning, or None."""
    if isinstance(node, exp.Anonymous) and node.name.lower() not in _SPARK_FUNCTIONS:
        return (
            f"{node.name} is a DuckDB function SQLGlot has no {dialect} equivalent for;"
            f" {dialect} would call its own function of that name, if it has one"
        )
    starred = ("except_", "except", "replace", "rename")
    if isinstance(node, exp.Star) and any(node.args.get(k) for k in starred):
        return f"SELECT * EXCLUDE/REPLACE/RENAME has no {dialect} equivalent; name the columns"
    if isinstance(node, exp.SetOperation) and node.args.get("by_name"):
        return f"UNION BY NAME has no {dialect} equivalent; list the columns in the same order"
    if isinstance(node, exp.Join) and "ASOF" in str(node.args.get("method") or "").upper():
        return f"ASOF JOIN has no {dialect} equivalent; join on a range and keep the latest row"
    if isinstance(node, exp.PercentileCont) and not isinstance(node.expression, exp.Literal):
        return f"this quantile form has no {dialect} equivalent; write quantile_cont(x, 0.9)"
    if isinstance(node, exp.PercentileDisc | exp.Quantile):
        return f"quantile_disc picks a value differently in {dialect}; use quantile_cont"
    for kind, why in _REFUSED:
        if isinstance(node, kind):
            return why
    return None


def _shown(node: exp.Expr) -> str:
    if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
        return "->> (JSON path)" if isinstance(node, exp.JSONExtractScalar) else "-> (JSON path)"
    if isinstance(node, exp.SetOperation):
        return "UNION BY NAME"
    if isinstance(node, exp.Join):
        return "ASOF JOIN"
    if isinstance(node, exp.Func):
        name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        return f"{name.lower()}(...)"
    text = node.sql(DIALECT)
    return text if len(text) <= 60 else text[:57] + "..."


def _line(sql: str, node: exp.Expr) -> int:
    """The line of ``sql`` ``node`` is on: its first identifier's or keyword's, as best known."""
    words = [node.name] if isinstance(node, exp.Anonymous) else []
    if isinstance(node, exp.Star):
        words = ["EXCLUDE", "EXCEPT", "REPLACE", "RENAME"]
    elif isinstance(node, exp.SetOperation):
        words = ["BY NAME"]
    elif isinstance(node, exp.Join):
        words = ["ASOF"]
    elif isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
        words = ["->"]
    elif isinstance(node, exp.Func) and not words:
        words = [node.sql_name()]
    for word in words:
        bounded = rf"\b{re.escape(word)}\b" if word[0].isalnum() else re.escape(word)
        found = re.search(bounded, sql, re.IGNORECASE)
        if found:
            return sql.count("\n", 0, found.start()) + 1
    meta = node.meta.get("line") if node.meta else None
    return int(meta) if meta else 1


def untranslatable(sql: str, dialect: str) -> list[Untranslatable]:
    """What in ``sql`` (DuckDB's dialect) ``dialect`` cannot run with the same meaning."""
    if dialect == DIALECT:
        return []
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except PARSE_ERRORS as exc:
        return [Untranslatable(1, "the statement", f"it does not parse: {exc}")]
    found: list[Untranslatable] = []
    for node in tree.walk():
        why = _refusal(node, dialect)
        if why is not None:
            found.append(Untranslatable(_line(sql, node), _shown(node), why))
    if not found:
        try:
            transpile(tree, dialect)
        except sqlglot.errors.UnsupportedError as exc:
            found.append(Untranslatable(1, "the statement", str(exc).splitlines()[0]))
    return found


def transpile(tree: exp.Expr, dialect: str) -> str:
    """``tree`` (parsed from DuckDB's dialect) as ``dialect``'s SQL, meaning kept.

    Raises SQLGlot's ``UnsupportedError`` where SQLGlot knows it cannot.
    """
    if dialect == DIALECT:
        return tree.sql(DIALECT)
    if dialect == "spark":
        tree = tree.copy()
        # children first: a rewritten node keeps its (already rewritten) arguments
        for node in reversed(list(tree.walk(bfs=False))):
            new = _spark_rewrite(node)
            if new is not node:
                if node is tree:
                    tree = new
                else:
                    node.replace(new)
    return tree.sql(dialect, unsupported_level=sqlglot.errors.ErrorLevel.RAISE)
