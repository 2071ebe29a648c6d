"""A source's contract, applied in bulk: cast, check, and say every rule a record broke.

The contract becomes one DuckDB query over the batch's text table (see
``readers.py``): each field is cast to its declared type (a value that does
not cast is null in the typed column and a reason in ``_reasons``), each check
adds a reason when it fails, and the reasons of a record are collected into a
list. No Python runs per record.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from weir.engine import ident, lit
from weir.engine.sql import PARSE_ERRORS
from weir.errors import ProjectError
from weir.project.config import ColumnConfig, SourceConfig

DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "epoch": "TIMESTAMPTZ",
    "date": "DATE",
}
_ARTICLE = {
    "int": "an int",
    "float": "a float",
    "bool": "a bool",
    "epoch": "an epoch",
    "date": "a date (YYYY-MM-DD)",
    "string": "a string",
}
FUTURE_TOLERANCE_SECONDS = 3600
# What the lake (Iceberg's statistics, computed with Python's datetime) can hold:
# 0001-01-01 up to 9999-12-31 23:59:59.999999 UTC. DuckDB reads times before year 1
# (an epoch of -62135596801 is 0000-12-31), and one such value accepted would make
# every later commit of its batch fail.
EARLIEST_EPOCH = -62135596800  # 0001-01-01 00:00:00 UTC
END_EPOCH = 253402300800  # 10000-01-01 00:00:00 UTC, the first moment after the range
STORABLE_RANGE = "0001-01-01 to 9999-12-31 23:59:59.999999 UTC"
# An entity extract's date comes from its file name: products_2025-01-31.csv holds the
# state at the start of 2025-01-31.
EXTRACT_DATE_SQL = "TRY_STRPTIME(regexp_extract(_source_file, '([0-9]{4}-[0-9]{2}-[0-9]{2})[^/]*$', 1), '%Y-%m-%d')::DATE"


@dataclass(frozen=True)
class Contract:
    """The SQL of one source's contract."""

    source: SourceConfig

    def __post_init__(self) -> None:
        for rule in self.source.rules:
            _check_rule(self.source, rule.name, rule.check)

    # -- typed values ------------------------------------------------------------
    def typed_sql(self, column: ColumnConfig, text: str | None = None) -> str:
        """The typed value of ``column`` from its text (null when it does not cast).

        Casts tolerate surrounding blanks, so no trim runs on the hot path.
        """
        v = f"nullif({text or ident(column.name)}, '')"
        match column.type:
            case "string":
                return v
            case "int":
                return (
                    f"CASE WHEN regexp_full_match({v}, '\\s*[+-]?[0-9]{{1,18}}\\s*') "
                    f"THEN TRY_CAST({v} AS BIGINT) END"
                )
            case "float":
                return (
                    f"CASE WHEN isfinite(TRY_CAST({v} AS DOUBLE)) THEN TRY_CAST({v} AS DOUBLE) END"
                )
            case "bool":
                return (
                    f"CASE WHEN lower(trim({v})) IN ('true', 't', '1', 'yes') THEN true "
                    f"WHEN lower(trim({v})) IN ('false', 'f', '0', 'no') THEN false END"
                )
            case "epoch":
                return (
                    f"CASE WHEN abs(TRY_CAST({v} AS DOUBLE)) < 1e11 AND NOT ({_beyond(column, v)}) "
                    f"THEN to_timestamp(TRY_CAST({v} AS DOUBLE)) END"
                )
            case "date":
                return (
                    f"CASE WHEN NOT ({_beyond(column, v)}) "
                    f"THEN TRY_STRPTIME(trim({v}), '%Y-%m-%d')::DATE END"
                )
        raise AssertionError(column.type)

    # -- the checked batch ---------------------------------------------------------
    def checked_sql(self, relation: str, now_epoch: float, carry: tuple[str, ...] = ()) -> str:
        """Typed columns, the text ones kept as ``<name>__text``, and ``_reasons``.

        The reasons list is built only for records that break a check: the
        common case (a valid record) costs one boolean expression.
        """
        typed = ", ".join(
            f"{self.typed_sql(c)} AS {ident(c.name)}, {ident(c.name)} AS {ident(c.name + '__text')}"
            for c in self.source.columns
        )
        others = ", ".join(ident(name) for name in (*self._passthrough(), *carry))
        checks: list[tuple[str, str]] = []
        for column in self.source.columns:
            checks.extend(self._column_checks(column, now_epoch))
        for rule in self.source.rules:
            message = rule.message or f"failed: {rule.check}"
            checks.append((f"({rule.check}) IS FALSE", lit(f"rule {rule.name}: {message}")))
        if self.source.kind == "entity":
            typed += f", {EXTRACT_DATE_SQL} AS _extract_date"
            checks.append(
                (
                    "_extract_date IS NULL",
                    lit(
                        "file name carries no extract date: name entity extracts like products_YYYY-MM-DD.csv"
                    ),
                )
            )
        fills = self.key_fill_sql()
        star = (
            "*"
            if not fills
            else "* REPLACE ("
            + ", ".join(f"{expr} AS {ident(name)}" for name, expr in fills.items())
            + ")"
        )
        if checks:
            broken = " OR ".join(f"({condition})" for condition, _ in checks)
            listed = ", ".join(
                f"CASE WHEN {condition} THEN {message} END" for condition, message in checks
            )
            reasons = (
                f"CASE WHEN _problem IS NOT NULL THEN [_problem] "
                f"WHEN NOT coalesce({broken}, false) THEN []::VARCHAR[] "
                f"ELSE list_filter([{listed}], lambda r: r IS NOT NULL) END"
            )
        else:
            reasons = "CASE WHEN _problem IS NOT NULL THEN [_problem] ELSE []::VARCHAR[] END"
        return f"WITH typed AS (SELECT {typed}, {others} FROM {relation}) SELECT {star}, {reasons} AS _reasons FROM typed"

    def _passthrough(self) -> list[str]:
        extra = [f"{c.name}_last4" for c in self.source.columns if c.classification == "pci"]
        return [*extra, "_raw", "_problem", "_source_file", "_offset", "_seq"]

    def _column_checks(self, column: ColumnConfig, now_epoch: float) -> list[tuple[str, str]]:
        """(condition that is true when the check fails, the reason it gives) per check."""
        name = column.name
        value = ident(name)
        text = ident(name + "__text")
        withheld = column.classification is not None
        shown = (
            lit(f"(value withheld: {column.classification})")
            if withheld
            else f"chr(39) || left({text}, 60) || chr(39)"
        )
        shown_value = lit("(value withheld)") if withheld else f"CAST({value} AS VARCHAR)"
        out: list[tuple[str, str]] = []
        if not column.nullable:
            # text of only spaces does not cast, and is missing; CASE keeps trim off the rows that cast
            blank = (
                f"length(trim({text})) = 0"
                if column.type == "string"
                else f"CASE WHEN {value} IS NULL THEN trim({text}) = '' ELSE false END"
            )
            out.append((f"{text} IS NULL OR {blank}", lit(f"{name}: missing (required)")))
        if column.type != "string":
            # a time or date that reads but is out of range gets that reason instead
            readable = (
                f" AND NOT coalesce({_beyond(column, text)}, false)"
                if column.type in ("epoch", "date")
                else ""
            )
            out.append(
                (
                    f"{value} IS NULL AND {text} IS NOT NULL AND trim({text}) <> ''{readable}",
                    f"{lit(name + ': ')} || {shown} || {lit(' is not ' + _ARTICLE[column.type])}",
                )
            )
        if column.type in ("epoch", "date"):
            out.append(
                (
                    f"coalesce({_beyond(column, text)}, false)",
                    f"{lit(name + ': ')} || {shown} || "
                    f"{lit(f' is out of range (the lake holds {STORABLE_RANGE})')}",
                )
            )
        number = f"epoch({value})" if column.type == "epoch" else value
        if column.min is not None:
            out.append(
                (
                    f"{number} < {column.min!r}",
                    f"{lit(name + ': ')} || {shown_value} || {lit(f' is below the minimum {_num(column.min)}')}",
                )
            )
        if column.max is not None:
            out.append(
                (
                    f"{number} > {column.max!r}",
                    f"{lit(name + ': ')} || {shown_value} || {lit(f' is above the maximum {_num(column.max)}')}",
                )
            )
        if column.enum is not None:
            allowed = ", ".join(lit(v) for v in column.enum)
            out.append(
                (
                    f"{value} NOT IN ({allowed})",
                    f"{lit(name + ': ')} || {shown} || {lit(' is not one of ' + ', '.join(column.enum))}",
                )
            )
        if column.regex is not None:
            out.append(
                (
                    f"NOT regexp_full_match({value}, {lit(column.regex)})",
                    f"{lit(name + ': ')} || {shown} || {lit(' does not match ' + column.regex)}",
                )
            )
        if column.not_future:
            limit = now_epoch + FUTURE_TOLERANCE_SECONDS
            moment = f"epoch({value})" if column.type == "epoch" else f"epoch({value}::TIMESTAMP)"
            out.append(
                (
                    f"{moment} > {limit!r}",
                    f"{lit(name + ': ')} || {shown_value} || {lit(' is in the future')}",
                )
            )
        return out

    # -- identity ------------------------------------------------------------------
    def content_hash_sql(self) -> str:
        """A hash of the record's fields as received, standing in for a missing key."""
        parts = ", ".join(
            f"coalesce({ident(c.name + '__text')}, '\\N')" for c in self.source.columns
        )
        return f"'h_' || md5(concat_ws(chr(31), {parts}))"

    def key_fill_sql(self) -> dict[str, str]:
        """Key columns that may be null, and the expression that fills them."""
        return {
            name: f"coalesce({ident(name)}, {self.content_hash_sql()})"
            for name in self.source.key
            if self.source.column(name).nullable
        }

    def key_sql(self) -> str:
        """One text key per record (the extract date joins it for entity sources)."""
        parts = [f"CAST({ident(name)} AS VARCHAR)" for name in self.source.key]
        if self.source.kind == "entity":
            parts.append("CAST(_extract_date AS VARCHAR)")
        return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"


def _beyond(column: ColumnConfig, text: str) -> str:
    """True when the text reads as the column's time or date but the lake cannot hold it."""
    if column.type == "epoch":
        seconds = f"TRY_CAST({text} AS DOUBLE)"
        return f"(abs({seconds}) < 1e11 AND ({seconds} < {EARLIEST_EPOCH} OR {seconds} >= {END_EPOCH}))"
    day = f"TRY_STRPTIME(trim({text}), '%Y-%m-%d')::DATE"
    return f"({day} < DATE '0001-01-01' OR {day} > DATE '9999-12-31')"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_rule(source: SourceConfig, name: str, check: str) -> None:
    where = f"sources/{source.name}.yml: rules.{name}"
    try:
        tree = sqlglot.parse_one(check, read="duckdb")
    except PARSE_ERRORS as exc:
        raise ProjectError(
            f"{where}: the check does not parse: {exc}", "write a SQL boolean expression"
        ) from None
    unknown = sorted({c.name for c in tree.find_all(exp.Column)} - set(source.column_names))
    if unknown:
        raise ProjectError(
            f"{where}: the check names {', '.join(unknown)}, not columns of the source",
            f"use the source's columns: {', '.join(source.column_names)}",
        )
    if any(isinstance(node, (exp.Select, exp.Subquery)) for node in tree.walk()):
        raise ProjectError(
            f"{where}: a check may not hold a query", "compare the record's own columns"
        )
