"""The platform's metadata database: batches and files now, runs, audit and tokens later.

SQLite inside the state folder by default, PostgreSQL at scale: the same
SQLAlchemy URL the Iceberg SQL catalog uses. The schema is a series of
numbered migrations (``migrations/NNNN_name.sql``) applied in order once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


class MetadataStore:
    """Owns the metadata database connection and its schema version."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on error."""
        with self.engine.begin() as connection:
            yield connection

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        applied: list[str] = []
        with self.begin() as db:
            db.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS weir_migrations ("
                    " version INTEGER PRIMARY KEY, name VARCHAR(200) NOT NULL,"
                    " applied_at DOUBLE PRECISION NOT NULL)"
                )
            )
            done = {row[0] for row in db.execute(sa.text("SELECT version FROM weir_migrations"))}
            for version, name, script in _migrations():
                if version in done:
                    continue
                for statement in _statements(script):
                    db.execute(sa.text(statement))
                db.execute(
                    sa.text("INSERT INTO weir_migrations VALUES (:v, :n, :t)"),
                    {"v": version, "n": name, "t": time.time()},
                )
                applied.append(name)
        return applied

    def dispose(self) -> None:
        self.engine.dispose()


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("weir.metadata") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
