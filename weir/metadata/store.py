"""The platform's metadata database: batches and files now, runs, audit and tokens later.

SQLite inside the state folder by default, PostgreSQL at scale: the same
SQLAlchemy URL the Iceberg SQL catalog uses. The schema is a series of
numbered migrations (``migrations/NNNN_name.sql``) applied in order once. A
migration whose first line is ``-- dialects: postgresql`` runs only on those
databases; elsewhere it is recorded as applied with nothing to do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from weir.errors import ProjectError

# PostgreSQL advisory locks: processes opening a new database at once take turns
_MIGRATION_LOCK = 0x77656972  # "weir"
_SETUP_LOCK = 0x77656973


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file, whatever its path holds (a comma, ``#``, ``%``, ``é``)."""
    return sa.engine.URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


class MetadataStore:
    """Owns the metadata database connection and its schema version."""

    def __init__(self, url: str) -> None:
        self.url = url
        server = sa.make_url(url).get_backend_name() != "sqlite"
        shown = sa.make_url(url).render_as_string(hide_password=True)
        try:
            # a server closes connections (restart, failover, idle timeout): test one before use
            self.engine: Engine = sa.create_engine(url, future=True, pool_pre_ping=server)
        except (ModuleNotFoundError, sa.exc.NoSuchModuleError) as exc:
            raise ProjectError(
                f"no database driver for catalog_uri {shown} ({exc})",
                "for PostgreSQL: pip install 'weir[postgres]' and write postgresql+psycopg://…",
            ) from exc
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self.migrate()
        except sa.exc.OperationalError as exc:
            if not server:
                raise
            reason = " ".join(str(exc.orig).split())
            raise ProjectError(
                f"cannot open the metadata database {shown}: {reason}",
                "check catalog_uri in weir.yml: is the server running, does the database exist?",
            ) from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on error."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def setting_up(self) -> Iterator[None]:
        """Hold the set-up lock, e.g. while the Iceberg catalog creates its tables.

        Creating tables is not safe against another process doing the same at once;
        on PostgreSQL an advisory lock makes them take turns (SQLite is left as it was).
        """
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as db:
            db.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _SETUP_LOCK})
            db.commit()
            try:
                yield
            finally:
                db.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _SETUP_LOCK})
                db.commit()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        applied: list[str] = []
        with self.begin() as db:
            dialect = db.dialect.name
            if dialect == "postgresql":
                # one process migrates a new database, the others then find it done
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
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
                if _runs_on(script, dialect):
                    for statement in _statements(script):
                        db.execute(sa.text(statement))
                db.execute(
                    sa.text("INSERT INTO weir_migrations VALUES (:v, :n, :t)"),
                    {"v": version, "n": name, "t": time.time()},
                )
                applied.append(name)
        return applied

    def scrub(self) -> None:
        """After a secure delete: truncate SQLite's write-ahead log, which may hold the old pages.

        (PostgreSQL keeps a deleted row's bytes until the space is reused; see docs/keys.md.)
        """
        if self.engine.dialect.name != "sqlite":
            return
        with self.engine.connect() as db:
            db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

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


def _runs_on(script: str, dialect: str) -> bool:
    """Whether a migration runs on ``dialect``: yes, unless its first line names other databases."""
    first = script.lstrip().partition("\n")[0]
    if not first.startswith("-- dialects:"):
        return True
    return dialect in {name.strip() for name in first.removeprefix("-- dialects:").split(",")}


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
