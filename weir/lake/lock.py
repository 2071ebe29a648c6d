"""The lake's one-writer lock: one process (and one thread) commits at a time.

A batch writes several tables and a model run replaces one; both commit
through the lake, and every commit takes this lock, so a collector's flush,
a broker consumer, ``weir ingest`` and ``weir run`` never interleave their
snapshots. It is also what makes rolling back a crashed batch safe: a batch
is ``pending`` in the ledger only while its writer holds the lock, so whoever
takes the lock and finds a pending batch knows its writer is gone.

The lock must be seen by every writer of the lake, so where it lives follows
the catalog:

- a SQLite catalog (the project's own file, on one host): a lock file beside
  the lake (``flock``), released by the kernel when its process dies;
- a PostgreSQL catalog (writers on several hosts): a session advisory lock in
  the catalog's database, held on a connection of its own and released by the
  server when that connection ends — the process exits, is killed, or its host
  stops answering TCP keepalives.

Either is re-entrant within the thread that holds it, so a batch holds it
across its steps and its commits take it again at no cost. Either names its
holder in the message another writer gets. Its holder tells ``on_release``
before letting go (the lake moves its change signal there, so readers learn
that something may have been committed), and asks ``check`` before each
commit, so a writer whose lock connection was cut does not commit blind.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weir.errors import LockedError, WeirError

_POLL = 0.05  # seconds between tries while waiting for another writer
# the advisory lock's key: one lake per database and schema (its Iceberg catalog's tables)
_KEY = "SELECT hashtext('weir.lake:' || current_database() || '.' || current_schema())"
# TCP keepalives on both ends of the lock's connection: the server drops the connection (and
# the lock) of a host that stopped answering after about 10 + 3 * 5 s, and the holder learns
# of a server it cannot reach (``check``) as soon
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
}


class WriteLock:
    """The write lock of one lake: re-entrant per thread, held by one process of all.

    Subclasses say how the lock is taken from other processes (``_take``), let go
    (``_give``), and whether it is still held (``_lost``).
    """

    where = "lock"  # what the lock is, for messages and docs

    def __init__(self, on_release: Callable[[], None] | None = None) -> None:
        self.on_release = on_release  # told before the lock is let go, as its holder
        self._mutex = threading.RLock()
        self._depth = 0

    @contextmanager
    def held(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the lock, waiting up to ``wait`` seconds for another writer; else LockedError."""
        deadline = time.monotonic() + wait
        acquired = self._mutex.acquire(timeout=wait) if wait > 0 else self._mutex.acquire(False)
        if not acquired:
            raise _locked("another thread of this process")
        try:
            if self._depth == 0:
                self._take(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    try:
                        if self.on_release is not None:
                            self.on_release()
                    finally:
                        self._give()
        finally:
            self._mutex.release()

    def check(self) -> None:
        """Raise LockedError when this thread holds the lock no more (its connection was cut)."""
        if self._depth > 0 and self._lost():
            raise LockedError(
                f"this process lost the lake's write lock ({self.where}) while it was writing",
                "run the command again: the half-written batch is rolled back first",
            )

    def _take(self, deadline: float) -> None:
        raise NotImplementedError

    def _give(self) -> None:
        raise NotImplementedError

    def _lost(self) -> bool:
        return False


class FileLock(WriteLock):
    """A lock file beside the lake (``flock``): for writers on one host."""

    def __init__(self, path: Path, on_release: Callable[[], None] | None = None) -> None:
        super().__init__(on_release)
        self.path = path
        self.where = f"lock file {path}"
        self._handle: IO[str] | None = None

    def _take(self, deadline: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(_POLL)
                    continue
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise _locked(holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle

    def _give(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class ServerLock(WriteLock):
    """A PostgreSQL session advisory lock in the catalog's database: for writers on many hosts.

    Each holding opens its own connection (named ``weir <host>:<pid>``, which is
    what another writer is told) and closes it on release; the server lets the
    lock go with the connection, so a killed holder never leaves it held.
    """

    def __init__(self, catalog_uri: str, on_release: Callable[[], None] | None = None) -> None:
        super().__init__(on_release)
        url = sa.make_url(catalog_uri)
        self.where = f"advisory lock in {url.render_as_string(hide_password=True)}"
        self.holder = f"weir {socket.gethostname()}:{os.getpid()}"
        self._engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            connect_args={"application_name": self.holder[:63], **_KEEPALIVES},
        )
        self._db: Connection | None = None
        self._key: int | None = None

    def _take(self, deadline: float) -> None:
        try:
            db = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.OperationalError as exc:
            reason = " ".join(str(exc.orig).split())
            raise WeirError(
                f"cannot take the lake's write lock: the {self.where} is out of reach ({reason})",
                "check that the catalog database server is running and reachable",
            ) from None
        try:
            key = int(db.execute(sa.text(_KEY)).scalar_one())
            while not db.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                if time.monotonic() >= deadline:
                    raise _locked(self._holder(db, key))
                time.sleep(_POLL)
        except BaseException:
            db.close()
            raise
        self._db, self._key = db, key

    def _give(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            db.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except sa.exc.DBAPIError:
            pass  # the connection is gone, and the lock with it
        finally:
            db.close()

    def _lost(self) -> bool:
        if self._db is None:
            return True
        try:
            self._db.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError:
            return True
        return False

    @staticmethod
    def _holder(db: Connection, key: int) -> str:
        """Who holds the lock, by its connection's name (``weir host:pid``) and address."""
        row = db.execute(
            sa.text(
                "SELECT a.application_name, a.client_addr FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
                " AND l.granted AND l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND l.objsubid = 1 AND l.classid::bigint = ((:k)::bigint >> 32) & 4294967295"
                " AND l.objid::bigint = (:k)::bigint & 4294967295"
            ),
            {"k": key},
        ).first()
        if row is None:
            return "another process"
        name, address = row
        return f"{name or 'another process'}" + (f" (from {address})" if address else "")


def write_lock(
    catalog_uri: str, lock_file: Path, on_release: Callable[[], None] | None = None
) -> WriteLock:
    """The lock every writer of this lake sees: in the catalog's server, else a lock file."""
    if sa.make_url(catalog_uri).get_backend_name() == "postgresql":
        return ServerLock(catalog_uri, on_release)
    return FileLock(lock_file, on_release)


def _locked(holder: str) -> LockedError:
    return LockedError(
        f"the project is being written by {holder}",
        "wait for it to finish, then run the command again",
    )
