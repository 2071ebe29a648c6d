"""The lake: Iceberg tables in a SQL catalog, one namespace per layer.

A batch writes to several tables (raw, quarantine, staging). Iceberg commits
one table at a time, so a batch is made atomic by the ledger in the metadata
database: every snapshot a batch creates carries its ``weir.batch_id``, and a
batch that never reached ``committed`` is rolled back table by table on the
next start (see ``rollback_batch``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import sqlalchemy as sa

from weir.engine import Engine, Session
from weir.errors import NotFoundError
from weir.lake import atrest
from weir.lake.lock import WriteLock, write_lock
from weir.lake.storage import LocalStorage, Storage, StorageError

if TYPE_CHECKING:  # pyarrow and pyiceberg are imported when a table is read or written
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

    from weir.lake.sealing import Sealing

Layer = Literal["raw", "quarantine", "staging"]
LAYERS: tuple[str, ...] = get_args(Layer)
# Namespaces of the models' tables (warehouse, marts, …) are created on first use.

BATCH_PROPERTY = "weir.batch_id"
# the time (ms since the epoch) a table's kept history starts at, once snapshots were expired
HISTORY_STARTS = "weir.history-starts-ms"


@dataclass(frozen=True)
class TableWrite:
    """What one batch does to one table: add data files, delete rows, or both."""

    layer: str
    name: str
    files: tuple[str, ...] = ()
    delete: BooleanExpression | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    table: str
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    batch_id: str | None
    summary: dict[str, str]


CATALOG_NAME = "weir"
# the Iceberg SQL catalog's table of tables (pyiceberg's, compatible with Iceberg's JDBC catalog)
_TABLES = sa.table(
    "iceberg_tables",
    sa.column("catalog_name"),
    sa.column("table_namespace"),
    sa.column("table_name"),
    sa.column("metadata_location"),
)


class Lake:
    """The Iceberg catalog of one project.

    The catalog (and pyiceberg with it) is loaded when a table is first read
    or written: listing the tables and their versions is one query of the
    catalog's table of tables, so planning the models imports no pyiceberg.
    ``setting_up`` is held while a new catalog database gets its tables.
    """

    def __init__(
        self,
        catalog_uri: str,
        warehouse: Path | Storage,
        engine: Engine,
        lock_file: Path | None = None,
        setting_up: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        # where the files live: a local folder or an object store (see lake.storage)
        self.storage = warehouse if isinstance(warehouse, Storage) else LocalStorage(warehouse)
        if lock_file is None:
            if not isinstance(warehouse, Path):
                raise ValueError("a lake on object storage needs a local lock file")
            lock_file = warehouse.parent / "write.lock"
        self.engine = engine
        # the engine reads and writes the lake's files through the storage's file system
        engine.filesystem = self.storage.engine_filesystem()
        # on a catalog server the lock is the server's, seen by writers on every host
        self.lock: WriteLock = write_lock(catalog_uri, lock_file, self._changed)
        self.changes = lock_file.with_name("lake.changed")
        self._versions: tuple[tuple[int, int], dict[tuple[str, str], str]] | None = None
        self.catalog_uri = catalog_uri
        self.setting_up = setting_up
        # as the metadata store: a pooled connection to a server is tested before use
        self.server = sa.make_url(catalog_uri).get_backend_name() != "sqlite"
        self.db = sa.create_engine(catalog_uri, pool_pre_ping=self.server)
        # tables loaded to be read (never committed to), by name, each at the version it was
        # loaded at: a reader loads a table's metadata again only once it has a new version
        self._read: dict[tuple[str, str], Table] = {}
        self._read_lock = threading.Lock()
        # each table's last metadata file read by current_snapshot_id, and its current snapshot
        self._current: dict[tuple[str, str], tuple[str, int | None]] = {}
        # seals personal data as it is written and opens it as it is read (see lake.sealing)
        self.sealing: Sealing | None = None

    @property
    def warehouse(self) -> Path:
        """The lake's local folder; a lake on object storage has none (use ``storage``)."""
        if not isinstance(self.storage, LocalStorage):
            raise StorageError(
                f"the lake is on object storage ({self.storage.describe()}), not in a folder",
                "read its files through weir (`weir sql`), not from disk",
            )
        return self.storage.folder

    @cached_property
    def catalog(self) -> SqlCatalog:
        """The Iceberg SQL catalog, made (with its tables and the layers' namespaces) on first use."""
        from pyiceberg.catalog.sql import SqlCatalog
        from pyiceberg.exceptions import NamespaceAlreadyExistsError

        with self.setting_up():
            catalog = SqlCatalog(
                CATALOG_NAME,
                uri=self.catalog_uri,
                pool_pre_ping="true" if self.server else "false",
                **self.storage.catalog_properties(),  # the warehouse and how to reach it
            )
            for layer in LAYERS:
                with contextlib.suppress(NamespaceAlreadyExistsError):
                    catalog.create_namespace(layer)
        return catalog

    @contextmanager
    def writing(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the lake's write lock (waiting up to ``wait`` s): one writer at a time."""
        with self.lock.held(wait):
            yield

    def close(self) -> None:
        """Close the catalog's database connections (on PostgreSQL, each is a server process)."""
        if "catalog" in self.__dict__:
            self.catalog.engine.dispose()
        self.db.dispose()

    # -- tables -----------------------------------------------------------------
    def table(self, layer: str, name: str) -> Table:
        from pyiceberg.exceptions import NoSuchTableError

        try:
            return self.catalog.load_table(f"{layer}.{name}")
        except NoSuchTableError:
            raise NotFoundError(
                f"no lake table {layer}.{name}",
                "ingest the source first (`weir ingest NAME`) or check `weir sql` table names",
                kind="table",
                name=f"{layer}.{name}",
            ) from None

    def drop(self, layer: str, name: str) -> None:
        """Forget a table (its files stay until clean-up): a model whose columns changed starts anew."""
        from pyiceberg.exceptions import NoSuchTableError

        with contextlib.suppress(NoSuchTableError):
            self.catalog.drop_table(f"{layer}.{name}")

    def exists(self, layer: str, name: str) -> bool:
        if self._signal() is not None:
            return (layer, name) in self.versions()
        return self._location(layer, name) is not None

    def tables(self) -> list[tuple[str, str]]:
        """Every table of the lake as (layer, name), in one read of the catalog."""
        return sorted(self.versions())

    def versions(self) -> dict[tuple[str, str], str]:
        """Every table and its current metadata file, which changes with each commit.

        One query of the catalog's table of tables (the Iceberg SQL catalog's own
        ``iceberg_tables``), whoever committed, in this process or another. On a
        SQLite catalog the answer is kept until the lake's change signal moves:
        every writer moves it when it lets go of the write lock, so a reader
        learns of a commit from one ``stat`` instead of a query per table.
        """
        signal = self._signal()
        with self._read_lock:
            kept = self._versions
        if signal is not None and kept is not None and kept[0] == signal:
            return kept[1]
        query = sa.select(
            _TABLES.c.table_namespace, _TABLES.c.table_name, _TABLES.c.metadata_location
        ).where(_TABLES.c.catalog_name == CATALOG_NAME)
        rows = self._catalog_query(query)
        versions = {(layer, name): location or "" for layer, name, location in rows}
        if signal is not None:
            with self._read_lock:
                self._versions = (signal, versions)
        return versions

    def _signal(self) -> tuple[int, int] | None:
        """The lake's change signal (the signal file's inode and change time), when it can be trusted.

        Only a SQLite catalog, whose writers all share this state folder, is read
        through it; a catalog on a server may have writers on other hosts.
        """
        if self.server:
            return None
        try:
            stat = os.stat(self.changes)
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _changed(self) -> None:
        """Move the change signal: a new file in its place (a new inode, whatever the clock)."""
        temporary = self.changes.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_bytes(os.urandom(8))
        os.replace(temporary, self.changes)

    def _current_location(self, layer: str, name: str) -> str | None:
        """A table's current metadata file: from the kept versions while the change signal
        can be trusted, else asked of the catalog."""
        if self._signal() is not None:
            return self.versions().get((layer, name))
        return self._location(layer, name)

    def _location(self, layer: str, name: str) -> str | None:
        """A table's current metadata file; None when the catalog has no such table."""
        query = sa.select(_TABLES.c.metadata_location).where(
            _TABLES.c.catalog_name == CATALOG_NAME,
            _TABLES.c.table_namespace == layer,
            _TABLES.c.table_name == name,
        )
        rows = self._catalog_query(query)
        return str(rows[0][0] or "") if rows else None

    def _catalog_query(self, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query of the catalog's tables; none while the catalog has no tables yet."""
        try:
            with self.db.connect() as db:
                return [tuple(row) for row in db.execute(query)]
        except sa.exc.DBAPIError as exc:
            if "catalog" in self.__dict__ or not _missing_table(exc):
                raise
            return []

    def reading(self, layer: str, name: str) -> Table:
        """The table at its current version, to read: loaded again only after a commit.

        Never commit to it: a writer loads the table itself (``table``), so a table
        shared by readers is never changed under them.
        """
        location = self._current_location(layer, name)
        with self._read_lock:
            known = self._read.get((layer, name))
        if known is not None and location is not None and known.metadata_location == location:
            return known
        table = self.table(layer, name)
        with self._read_lock:
            self._read[(layer, name)] = table
        return table

    def ensure(self, layer: str, name: str, schema: pa.Schema, day_of: str | None = None) -> Table:
        from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
        from pyiceberg.transforms import DayTransform

        identifier = f"{layer}.{name}"
        with contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace_if_not_exists(layer)
        if self.catalog.table_exists(identifier):
            table = self.catalog.load_table(identifier)
            missing = [f for f in schema if f.name not in table.schema().column_names]
            if missing:
                import pyarrow as pa

                with table.update_schema() as update:
                    update.union_by_name(pa.schema(missing))
                table = self.catalog.load_table(identifier)
            return table
        try:
            table = self.catalog.create_table(
                identifier,
                schema=schema,
                properties={"write.parquet.compression-codec": "zstd"},
            )
        except TableAlreadyExistsError:  # another writer (a worker elsewhere) made it just now
            return self.ensure(layer, name, schema, day_of)
        if day_of is not None:
            with table.update_spec() as update:
                update.add_field(day_of, DayTransform(), f"{day_of}_day")
            table = self.catalog.load_table(identifier)
        return table

    # -- batches ----------------------------------------------------------------
    def write_parquet(
        self,
        session: Session,
        layer: str,
        name: str,
        select: str,
        batch_id: str,
        day_of: str | None = None,
        rows: int | None = None,
        lineage: Mapping[str, Sequence[str]] | None = None,
    ) -> TableWrite:
        """Write the rows of ``select`` as Parquet files in the table's folder (not yet committed).

        The engine writes the files (DuckDB in parallel); ``commit`` adds them to
        the table. A day-partitioned table gets one folder per day of ``day_of``.
        ``lineage`` (a model's column → the columns it is computed from) tells the
        lake's ``sealing`` which columns hold personal data.
        """
        select = session.portable(select)
        if self.sealing is not None:
            select = self.sealing.seal(session, layer, name, select, lineage)
        table = self.ensure(layer, name, session.lake_schema(select), day_of)
        if rows == 0:
            return TableWrite(layer, name)  # the table exists from the first batch on, empty or not
        folder = self.storage.join(table.location(), "data", batch_id)
        files = self.storage.write(session, select, folder, partition_by=day_of)
        return TableWrite(layer, name, files=tuple(files))

    def commit(
        self,
        batch_id: str,
        writes: Iterable[TableWrite],
        properties: Mapping[str, str],
        on_committed: Callable[[str], None] | None = None,
    ) -> dict[str, int]:
        """Apply each write as one snapshot tagged with the batch; returns table → snapshot id.

        Takes the write lock (a batch already holds it; a model run waits for it).
        """
        with self.writing(wait=60.0):
            return self._commit(batch_id, writes, properties, on_committed)

    def _commit(
        self,
        batch_id: str,
        writes: Iterable[TableWrite],
        properties: Mapping[str, str],
        on_committed: Callable[[str], None] | None,
    ) -> dict[str, int]:
        snapshots: dict[str, int] = {}
        summary = {BATCH_PROPERTY: batch_id, **properties}
        for write in writes:
            if not write.files and write.delete is None:
                continue
            self.lock.check()  # a writer whose lock was cut (its connection lost) stops here
            table = self.table(write.layer, write.name)
            # what to delete is decided here, under the lock, on the table as it is now: a
            # writer that found it empty before another (a worker elsewhere) filled it must
            # still replace those rows
            delete = write.delete if table.current_snapshot() is not None else None
            if not write.files and delete is None:
                continue
            transaction = table.transaction()
            key = self.engine.at_rest
            if delete is not None and key is not None:
                atrest.delete_rows(transaction, table, delete, summary, key)
            elif delete is not None:
                transaction.delete(delete, snapshot_properties=summary)
            if write.files and key is not None:
                atrest.add_files(transaction, list(write.files), summary, key)
            elif write.files:
                transaction.add_files(
                    list(write.files), snapshot_properties=summary, check_duplicate_files=False
                )
            transaction.commit_transaction()
            current = table.refresh().current_snapshot()
            if current is not None:
                snapshots[f"{write.layer}.{write.name}"] = current.snapshot_id
            if on_committed is not None:
                on_committed(write.layer)
        return snapshots

    def rollback_batch(self, batch_id: str) -> list[str]:
        """Undo every snapshot of an unfinished batch; returns the tables rolled back."""
        with self.writing(wait=60.0):
            return self._rollback(batch_id)

    def _rollback(self, batch_id: str) -> list[str]:
        undone = []
        for layer, name in self.tables():
            table = self.table(layer, name)
            # the batch's files, whole or cut short by the crash: no committed snapshot needs them
            self.storage.remove_tree(self.storage.join(table.location(), "data", batch_id))
            first_of_batch = None
            for snapshot in _ancestry(table):
                if _batch_of(snapshot) == batch_id:
                    first_of_batch = snapshot
            if first_of_batch is None:
                continue
            if first_of_batch.parent_snapshot_id is None:
                # the table holds nothing older than this batch: it did not exist before it
                self.catalog.drop_table(f"{layer}.{name}")
            else:
                table.manage_snapshots().set_current_snapshot(
                    first_of_batch.parent_snapshot_id
                ).commit()
            undone.append(f"{layer}.{name}")
        return undone

    def compact(
        self,
        layer: str,
        name: str,
        min_files: int = 32,
        small_bytes: int = 64 << 20,
    ) -> list[str]:
        """Rewrite each partition holding more than ``min_files`` small files as one file.

        One snapshot (an Iceberg overwrite that deletes the small files and adds
        the new one, with the same rows) per table; older snapshots keep their
        files, so time travel still reads what was there. The caller holds the
        project's write lock, so no batch commits in between. Returns the
        partitions rewritten.
        """
        table = self.table(layer, name)
        snapshot = table.current_snapshot()
        if snapshot is None:
            return []
        groups: dict[str, list[DataFile]] = {}
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
            if task.delete_files:
                return []  # rows deleted by delete files: a plain rewrite would bring them back
            if task.file.file_size_in_bytes < small_bytes:
                groups.setdefault(str(task.file.partition), []).append(task.file)
        chosen = {key: files for key, files in groups.items() if len(files) > min_files}
        if not chosen:
            return []
        folder = self.storage.join(table.location(), "data", f"compact-{uuid.uuid4().hex[:12]}")
        written: dict[str, str] = {}
        with self.engine.writer() as session:
            for number, (key, files) in enumerate(sorted(chosen.items())):
                scan = self.engine.scan([self.storage.location(f.file_path) for f in files])
                (target,) = self.storage.write(
                    session, f"SELECT * FROM {scan}", f"{folder}/part-{number}"
                )
                written[key] = target
        summary = {"weir.kind": "compaction", "weir.compacted": str(len(written))}
        transaction = table.transaction()
        with transaction.update_snapshot(snapshot_properties=summary).overwrite() as rewrite:
            for files in chosen.values():
                for data_file in files:
                    rewrite.delete_data_file(data_file)
            for data_file in atrest.data_files(
                transaction.table_metadata, written.values(), table.io, self.engine.at_rest
            ):
                rewrite.append_data_file(data_file)
        transaction.commit_transaction()
        return [f"{layer}.{name} {key}" for key in sorted(written)]

    # -- reading ----------------------------------------------------------------
    def current_snapshot_id(self, layer: str, name: str) -> int | None:
        """The table's current snapshot id (None: no commit yet, or no such table).

        Read from the table's current metadata file (its ``current-snapshot-id``)
        without loading the catalog, so planning, which asks it of every table a
        model reads, imports neither pyiceberg nor pyarrow; read again only after
        a commit.
        """
        location = self._current_location(layer, name)
        if not location:
            return None
        with self._read_lock:
            known = self._current.get((layer, name))
        if known is not None and known[0] == location:
            return known[1]
        data = self.storage.read_bytes(location)
        if location.endswith(".gz.metadata.json"):
            data = gzip.decompress(data)
        current = json.loads(data).get("current-snapshot-id")
        snapshot = None if current is None or int(current) == -1 else int(current)
        with self._read_lock:
            self._current[(layer, name)] = (location, snapshot)
        return snapshot

    def snapshots(self, layer: str, name: str) -> list[SnapshotInfo]:
        table = self.reading(layer, name)
        return [_info(f"{layer}.{name}", s) for s in reversed(list(_ancestry(table)))]

    def snapshot_for(
        self, layer: str, name: str, as_of: datetime | None = None, snapshot_id: int | None = None
    ) -> Snapshot | None:
        table = self.reading(layer, name)
        if snapshot_id is not None:
            snapshot = table.snapshot_by_id(snapshot_id)
            if snapshot is None:
                raise NotFoundError(
                    f"{layer}.{name} has no snapshot {snapshot_id}",
                    f"list them with `weir sql \"SELECT * FROM weir_snapshots WHERE table_name = '{layer}.{name}'\"`",
                    kind="snapshot",
                    name=str(snapshot_id),
                )
            return snapshot
        if as_of is not None:
            asked = int(as_of.timestamp() * 1000)
            starts = table.properties.get(HISTORY_STARTS)
            if starts is not None and asked < int(starts):
                kept = datetime.fromtimestamp(int(starts) / 1000).astimezone()
                raise NotFoundError(
                    f"{layer}.{name} keeps its history from {kept.isoformat(timespec='seconds')} on:"
                    f" the snapshots before it were expired (retention or erasure),"
                    f" so it cannot be read as of {as_of.isoformat(timespec='seconds')}",
                    f"ask for a time at or after {kept.isoformat(timespec='seconds')}",
                    kind="snapshot",
                    name=f"{layer}.{name}@{as_of.isoformat()}",
                )
            return table.snapshot_as_of_timestamp(asked)
        return table.current_snapshot()

    def data_files(
        self,
        layer: str,
        name: str,
        snapshot: Snapshot | None,
        row_filter: BooleanExpression | None = None,
    ) -> list[str]:
        """The data files of a snapshot (only those that may hold rows matching ``row_filter``)."""
        if snapshot is None:
            return []
        table = self.reading(layer, name)
        scan = table.scan(snapshot_id=snapshot.snapshot_id)
        if row_filter is not None:
            scan = table.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id)
        tasks = scan.plan_files()
        return [self.storage.location(task.file.file_path) for task in tasks]

    def arrow_schema(self, layer: str, name: str) -> pa.Schema:
        return self.reading(layer, name).schema().as_arrow()

    def find_snapshot(self, snapshot_id: int) -> tuple[str, str, Snapshot]:
        for layer, name in self.tables():
            snapshot = self.reading(layer, name).snapshot_by_id(snapshot_id)
            if snapshot is not None:
                return layer, name, snapshot
        raise NotFoundError(
            f"no lake table has snapshot {snapshot_id}",
            "check the id in `weir status`",
            kind="snapshot",
            name=str(snapshot_id),
        )


def _missing_table(error: sa.exc.DBAPIError) -> bool:
    """Whether a catalog query failed because the catalog's tables do not exist yet."""
    text = str(error.orig).lower()
    return "no such table" in text or "does not exist" in text


def _ancestry(table: Table) -> Iterable[Snapshot]:
    """The current snapshot and its parents, newest first."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None


def _batch_of(snapshot: Snapshot) -> str | None:
    if snapshot.summary is None:
        return None
    return snapshot.summary.get(BATCH_PROPERTY)


def _info(table: str, snapshot: Snapshot) -> SnapshotInfo:
    summary = {
        k: str(v)
        for k, v in (snapshot.summary.additional_properties.items() if snapshot.summary else [])
    }
    operation = str(snapshot.summary.operation.value) if snapshot.summary else ""
    return SnapshotInfo(
        table=table,
        snapshot_id=snapshot.snapshot_id,
        parent_id=snapshot.parent_snapshot_id,
        committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000).astimezone(),
        operation=operation,
        batch_id=summary.get(BATCH_PROPERTY),
        summary=summary,
    )


def same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    """Same column names and types, as Iceberg sees them (a large_string is a string)."""

    def shape(schema: pa.Schema) -> list[tuple[str, str]]:
        return [
            (f.name, str(f.type).replace("large_", "").replace("tz=+00:00", "tz=UTC"))
            for f in schema
        ]

    return shape(a) == shape(b)


def files_property(files: Iterable[tuple[str, str]]) -> str:
    """The snapshot-summary value listing a batch's source files and their checksums."""
    return json.dumps([{"path": path, "sha256": checksum} for path, checksum in files])
