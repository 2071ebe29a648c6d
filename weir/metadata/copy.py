"""Copying the metadata database to another (``weir migrate``): every row of weir's own tables.

The target is a new database: opening it as a ``MetadataStore`` made weir's
tables there (its migrations), and it must hold no row yet. Rows are copied
table by table, parents before children, in chunks; on PostgreSQL each
table's id sequence then continues after the copied ids. The Iceberg
catalog's tables are not copied here: the lake's copy makes them anew
(``weir.lake.copy``). The source is only read.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from weir.errors import WeirError
from weir.metadata.store import MetadataStore

# the catalog's own tables (the lake copies them) and the schema's version (each store has its own)
NOT_COPIED = frozenset({"weir_migrations", "iceberg_tables", "iceberg_namespace_properties"})
_CHUNK = 5000


def copy_metadata(
    source: MetadataStore, target: MetadataStore, skip: Collection[str] = NOT_COPIED
) -> dict[str, int]:
    """Copy every row of the source's tables into the target's; returns rows per table."""
    found = sa.MetaData()
    found.reflect(source.engine)
    made = sa.MetaData()
    made.reflect(target.engine)
    tables = [t for t in found.sorted_tables if t.name not in skip]
    missing = [t.name for t in tables if t.name not in made.tables]
    if missing:
        raise WeirError(
            f"the target database lacks table(s) {', '.join(missing)}",
            "migrate with the same weir version on both sides",
        )
    with target.engine.connect() as db:
        held = [
            t.name
            for t in tables
            if db.execute(sa.select(sa.func.count()).select_from(made.tables[t.name])).scalar()
        ]
    if held:
        raise WeirError(
            f"the target database already holds rows ({', '.join(held[:3])})",
            "migrate into a new, empty database",
        )
    counts: dict[str, int] = {}
    with source.engine.connect() as read, target.engine.begin() as write:
        for table in tables:
            into = made.tables[table.name]
            columns = [c.name for c in table.columns if c.name in into.columns]
            rows = read.execute(sa.select(*(table.c[c] for c in columns))).mappings()
            copied = 0
            while chunk := rows.fetchmany(_CHUNK):
                write.execute(into.insert(), [dict(row) for row in chunk])
                copied += len(chunk)
            counts[table.name] = copied
            if write.dialect.name == "postgresql":
                _continue_sequences(write, into)
    return counts


def row_counts(store: MetadataStore, tables: Collection[str]) -> dict[str, int]:
    """Rows of each of ``tables`` in ``store`` (to verify a copy)."""
    found = sa.MetaData()
    found.reflect(store.engine, only=list(tables))
    with store.engine.connect() as db:
        return {
            name: int(
                db.execute(sa.select(sa.func.count()).select_from(found.tables[name])).scalar() or 0
            )
            for name in tables
        }


def _continue_sequences(db: sa.Connection, table: sa.Table) -> None:
    """Let each serial column's sequence continue after the ids copied into it."""
    quote = db.dialect.identifier_preparer.quote
    for column in table.columns:
        sequence = db.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
        ).scalar()
        if sequence:
            highest = f"SELECT max({quote(column.name)}) FROM {quote(table.name)}"
            db.execute(
                sa.text(f"SELECT setval(:s, coalesce(({highest}), 0) + 1, false)"),
                {"s": sequence},
            )
