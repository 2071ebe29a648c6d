"""Testing a database source's connection, and proposing a contract from a table.

The proposal maps each column's type onto the contract's (integers to
``int``, decimals and floats to ``float``, times to ``epoch``, dates to
``date``, booleans to ``bool``, everything else to ``string``), takes the
primary key as the key, and reads incrementally when a column looks like a
change time (``updated_at`` …). A password in the URL given is never written
into the proposal: it becomes a ``${VAR}`` placeholder.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from weir.engine import Session
from weir.errors import NotFoundError, WeirError
from weir.ingest.database import (
    database_sample,
    engine_for,
    resolve_url,
    safe_error,
    shown_url,
    since_for,
)
from weir.ingest.ledger import Ledger
from weir.ingest.probe import DiscoverOptions, Probe, Proposal
from weir.project import ProjectFiles, SourceConfig
from weir.project.database import expand_url

CHANGE_COLUMNS = ("updated_at", "modified_at", "last_modified", "last_updated", "changed_at")


def test_database(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> Probe:
    """Connect as an ingest would and read up to ``limit`` of the rows it would read next."""
    config = source.database
    assert config is not None
    since = since_for(source, ledger)
    records = database_sample(source, limit, since)
    what = f"table {config.table}" if config.table else "its query"
    if config.mode == "full":
        reads = "every row (a full extract)"
    elif since is None:
        reads = f"every row, in {config.cursor} order (no cursor stored yet)"
    else:
        reads = f"the rows with {config.cursor} after {since}"
    return Probe(source.name, f"{what} at {shown_url(resolve_url(source))}", reads, records)


def discover_database(target: str, options: DiscoverOptions) -> Proposal:
    """A contract for one table of the database at ``target`` (a SQLAlchemy URL)."""
    url = expand_url(target)
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        schema, table = _pick_table(inspector, options.table, url)
        columns = inspector.get_columns(table, schema=schema)
        primary = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns", [])
    except sa.exc.SQLAlchemyError as exc:
        raise WeirError(
            f"cannot read the tables of {shown_url(url)} ({safe_error(exc, url)})",
            "check that the server is up and the URL's user may read the database",
        ) from None
    finally:
        engine.dispose()
    name = options.name or _name(table)
    return _proposal(
        name, target, table if schema is None else f"{schema}.{table}", columns, primary
    )


def _pick_table(inspector: Any, wanted: str | None, url: str) -> tuple[str | None, str]:
    if wanted is not None:
        schema, _, table = wanted.rpartition(".")
        known = inspector.get_table_names(schema=schema or None)
        if table not in known:
            raise NotFoundError(
                f"{shown_url(url)} has no table {wanted}",
                f"its tables: {', '.join(sorted(known)[:20]) or 'none'}",
                kind="table",
                name=wanted,
            )
        return schema or None, table
    known = inspector.get_table_names()
    if not known:
        raise NotFoundError(
            f"{shown_url(url)} holds no table (in its default schema)",
            "check the URL's database, or name the table with --table schema.table",
        )
    if len(known) > 1:
        raise WeirError(
            f"{shown_url(url)} holds {len(known)} tables: say which with --table",
            f"its tables: {', '.join(sorted(known)[:20])}",
        )
    return None, known[0]


def _name(table: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", table.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"source_{cleaned}"


def contract_type(kind: Any) -> str:
    """The contract type of a reflected column type."""
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.Numeric):  # Float is a Numeric
        return "float"
    if isinstance(kind, sa.DateTime):
        return "epoch"
    if isinstance(kind, sa.Date):
        return "date"
    return "string"


def _proposal(
    name: str,
    target: str,
    table: str,
    columns: list[Any],
    primary: list[str],
) -> Proposal:
    notes: list[str] = []
    url, secret = _without_password(target, name)
    if secret:
        notes.append(
            f"the URL's password is not written: set {secret} in the environment weir runs in"
        )
    typed = [
        (str(c["name"]), contract_type(c["type"]), bool(c.get("nullable", True))) for c in columns
    ]
    key = list(primary)
    if not key:
        key = [typed[0][0]]
        notes.append(
            f"the table has no primary key: the key proposed is its first column, {key[0]}"
        )
    cursor = next(
        (n for n, t, _ in typed if n.lower() in CHANGE_COLUMNS and t in ("epoch", "int")), None
    )
    lines = [
        f"# Proposed by `weir sources discover` from table {table}: review it, then save it",
        f"# as sources/{name}.yml (types, required fields, checks, classifications).",
        f"name: {name}",
        f"description: The {table} table.",
        "format: database",
        "database:",
        f"  url: {_yaml_text(url)}",
        f"  table: {_yaml_text(table)}",
    ]
    if cursor is not None:
        lines += [
            "  mode: incremental",
            f"  cursor: {cursor}",
            "  lookback: 15m" if _is_time(typed, cursor) else "  lookback: 0",
        ]
        # each change of a row is a new record: its key carries the change time
        key = [*key, cursor] if cursor not in key else key
        notes.append(
            f"reads incrementally by {cursor}; the key holds it so that each change is kept"
        )
    else:
        lines.append("  mode: full")
        notes.append("no change-time column found: every ingest reads the whole table")
    lines.append(f"key: [{', '.join(key)}]")
    if cursor is not None and _is_time(typed, cursor):
        lines.append(f"time_column: {cursor}")
    lines.append("columns:")
    for column, kind, nullable in typed:
        required = "" if nullable and column not in key else ", nullable: false"
        lines.append(f"  - {{name: {column}, type: {kind}{required}}}")
    unusable = [c for c, _, _ in typed if not re.fullmatch(r"[a-z][a-z0-9_]*", c)]
    if unusable:
        notes.append(
            f"column names weir cannot take as they are: {', '.join(unusable)}; "
            "read them through a query that renames them (database.query)"
        )
    return Proposal(name, "\n".join(lines) + "\n", tuple(notes))


def _is_time(typed: list[tuple[str, str, bool]], column: str) -> bool:
    return any(n == column and t == "epoch" for n, t, _ in typed)


def _without_password(target: str, name: str) -> tuple[str, str | None]:
    """The URL as the contract may hold it: a password in clear becomes ``${VAR}``."""
    match = re.match(r"^(?P<head>[^:/]+://[^:@/]*):(?P<password>[^@/]*)@(?P<rest>.*)$", target)
    if match is None or re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", match["password"]):
        return target, None
    variable = f"{name.upper()}_PASSWORD"
    return f"{match['head']}:${{{variable}}}@{match['rest']}", variable


def _yaml_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
