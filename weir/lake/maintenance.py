"""Lake maintenance: rewrite the files that hold some rows, expire snapshots, remove unneeded files.

Erasure and retention both end here, and both must leave no copy behind:
an Iceberg table keeps every file an older snapshot still names, and every
manifest keeps its data files' column bounds (the smallest and largest value
of each column), so deleting rows from the current snapshot alone hides them
and destroys nothing. The three steps, each under the project's write lock:

1. ``rewrite`` writes each data file that holds a matching row again, without
   those rows or with them changed, as one overwrite snapshot;
2. ``expire`` removes the snapshots that still name the old files, and
   records where the table's history now starts (a time-travel read before
   it is refused with a clear message instead of answering from nothing);
3. ``remove_unreferenced`` deletes every file under the table's folder that no
   remaining snapshot needs: old data files, manifests, manifest lists and
   metadata files. A data file written by a model run that has not committed
   yet is not named by any snapshot either, so data files are deleted only
   when named by the caller or older than ``grace``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from weir.errors import WeirError
from weir.lake import atrest
from weir.lake.catalog import HISTORY_STARTS, Lake
from weir.lake.storage import Storage

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

FILE_COLUMN = "_weir_file"


@dataclass(frozen=True)
class Rewritten:
    """What one ``rewrite`` did to one table."""

    table: str
    rows: int  # rows that matched
    replaced: tuple[str, ...]  # the data files the new snapshot no longer names
    written: tuple[str, ...]
    snapshot_id: int | None  # the overwrite snapshot, None when nothing matched


class Maintenance:
    """Rewrite, expire and clean the tables of one lake. The caller holds ``lake.writing()``."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def matching(
        self, layer: str, name: str, where: str, files: Collection[str] | None = None
    ) -> dict[str, int]:
        """Data files holding rows where ``where`` holds, with their counts.

        The current snapshot's files, or ``files`` (e.g. every file of ``history``).
        """
        files = self.current(layer, name) if files is None else sorted(files)
        if not files:
            return {}
        scan = self.lake.engine.scan(files, file_column=FILE_COLUMN)
        with self.lake.engine.writer() as session:
            rows = session.execute(
                f"SELECT {FILE_COLUMN}, count(*) FROM {scan} WHERE ({where}) GROUP BY ALL"
            ).fetchall()
        return {str(path): int(count) for path, count in rows}

    def history(self, layer: str, name: str) -> dict[int, frozenset[str]]:
        """Every snapshot the table keeps, with the data files it names (as the storage spells them)."""
        from pyiceberg.manifest import DataFileContent

        table = self.lake.table(layer, name)
        io = table.io
        # snapshots share most of their manifests: each one is read once, not once a snapshot
        live: dict[str, frozenset[str]] = {}
        history: dict[int, frozenset[str]] = {}
        for snapshot in table.snapshots():
            files: set[str] = set()
            for manifest in snapshot.manifests(io):
                if manifest.manifest_path not in live:
                    live[manifest.manifest_path] = frozenset(
                        self.lake.storage.location(entry.data_file.file_path)
                        for entry in manifest.fetch_manifest_entry(io, discard_deleted=True)
                        if entry.data_file.content == DataFileContent.DATA
                    )
                files |= live[manifest.manifest_path]
            history[snapshot.snapshot_id] = frozenset(files)
        return history

    def current(self, layer: str, name: str) -> list[str]:
        """The data files of the table's current snapshot."""
        return _current_files(self.lake.table(layer, name), self.lake.storage)

    def rewrite(
        self,
        layer: str,
        name: str,
        where: str,
        select: Callable[[str], str] | None = None,
        summary: Mapping[str, str] | None = None,
    ) -> Rewritten:
        """Write again each data file holding a row where ``where`` holds; one overwrite snapshot.

        ``select(scan)`` is the SQL of a file's new rows from ``scan`` (one file);
        without it the matching rows are left out. Files holding no match are
        not touched, so their snapshots' bounds stay as they were.
        """
        identifier = f"{layer}.{name}"
        table = self.lake.table(layer, name)
        if _has_delete_files(table):
            raise WeirError(
                f"{identifier} has delete files; rows cannot be rewritten file by file",
                f"compact the table first (`weir lake compact {identifier}`)",
            )
        found = self.matching(layer, name, where)
        if not found:
            return Rewritten(identifier, 0, (), (), None)
        storage = self.lake.storage
        folder = storage.join(table.location(), "data", f"rewrite-{uuid.uuid4().hex[:12]}")
        written: list[str] = []
        with self.lake.engine.writer() as session:
            for number, path in enumerate(sorted(found)):
                scan = self.lake.engine.scan([path])
                rows = (
                    select(scan)
                    if select is not None
                    else f"SELECT * FROM {scan} WHERE ({where}) IS NOT TRUE"
                )
                target = f"{folder}/file-{number}"
                (count,) = session.execute(f"SELECT count(*) FROM ({rows})").fetchone() or (0,)
                if count:
                    written += storage.write(session, rows, target)
        by_path = {storage.location(f.file_path): f for f in _data_files(table)}
        transaction = table.transaction()
        properties = {"weir.kind": "rewrite", **(summary or {})}
        with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            for path in found:
                overwrite.delete_data_file(by_path[path])
            for data_file in atrest.data_files(
                transaction.table_metadata, written, table.io, self.lake.engine.at_rest
            ):
                overwrite.append_data_file(data_file)
        transaction.commit_transaction()
        self.seal(layer, name, properties)
        current = table.refresh().current_snapshot()
        return Rewritten(
            identifier,
            sum(found.values()),
            tuple(sorted(found)),
            tuple(written),
            current.snapshot_id if current is not None else None,
        )

    def seal(self, layer: str, name: str, summary: Mapping[str, str] | None = None) -> None:
        """Commit an empty snapshot after an overwrite, so no manifest names the files it dropped.

        The overwrite keeps a manifest of the files it deleted, column bounds and all; the
        next snapshot leaves a manifest of only deleted entries out. ``rewrite`` seals
        itself; a caller whose process died between the two calls it again.
        """
        table = self.lake.table(layer, name)
        transaction = table.transaction()
        properties = {"weir.kind": "rewrite", **(summary or {})}
        with transaction.update_snapshot(snapshot_properties=properties).fast_append():
            pass
        transaction.commit_transaction()

    def expire(
        self,
        layer: str,
        name: str,
        *,
        before: datetime | None = None,
        all_but_current: bool = False,
    ) -> list[int]:
        """Remove the snapshots older than ``before`` (or every one but the current); returns their ids.

        The current snapshot is always kept. The table remembers where its
        history now starts, for ``Lake.snapshot_for`` to refuse a read before it.
        """
        table = self.lake.table(layer, name)
        current = table.current_snapshot()
        if current is None:
            return []
        if all_but_current:
            doomed = [
                s.snapshot_id for s in table.snapshots() if s.snapshot_id != current.snapshot_id
            ]
        elif before is not None:
            cut = int(before.timestamp() * 1000)
            doomed = [
                s.snapshot_id
                for s in table.snapshots()
                if s.timestamp_ms < cut and s.snapshot_id != current.snapshot_id
            ]
        else:
            raise ValueError("expire needs `before` or `all_but_current`")
        if not doomed:
            return []
        starts = min(s.timestamp_ms for s in table.snapshots() if s.snapshot_id not in set(doomed))
        table.maintenance.expire_snapshots().by_ids(doomed).commit()
        with table.refresh().transaction() as transaction:
            transaction.set_properties({HISTORY_STARTS: str(starts)})
        return doomed

    def remove_unreferenced(
        self, layer: str, name: str, *, also: Collection[str] = (), grace: float = 3600.0
    ) -> list[str]:
        """Delete the files under the table's folder that no snapshot of it names; returns them.

        Metadata files (manifests, manifest lists, older table metadata) go at
        once: nobody writes them outside a commit, and commits hold the lock.
        A data file goes when it is in ``also`` or older than ``grace`` seconds.
        """
        table = self.lake.table(layer, name)
        storage = self.lake.storage
        needed = _referenced(table, storage)
        root = storage.location(table.location()).rstrip("/")
        named = {storage.same(p) for p in also}
        now = time.time()
        removed: list[str] = []
        for stored in storage.files(root):
            same = storage.same(stored.location)
            if same in needed:
                continue
            inside = stored.location[len(root) + 1 :]
            is_data = inside.startswith("data/") and inside.endswith(".parquet")
            if is_data and same not in named and now - stored.modified < grace:
                continue
            storage.remove(stored.location)
            removed.append(stored.location)
        storage.prune(root)
        return removed


def _current_files(table: Table, storage: Storage) -> list[str]:
    return sorted(storage.location(f.file_path) for f in _data_files(table))


def _data_files(table: Table) -> list[DataFile]:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    return [task.file for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()]


def _has_delete_files(table: Table) -> bool:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return False
    return any(
        task.delete_files for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
    )


def _referenced(table: Table, storage: Storage) -> set[str]:
    """Every file a snapshot of the table, or its current metadata, still names (``storage.same``)."""
    io = table.io
    names: set[str] = set()
    if table.metadata_location:
        names.add(table.metadata_location)
    names.update(entry.metadata_file for entry in table.metadata.metadata_log)
    for snapshot in table.snapshots():
        names.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            names.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
                names.add(entry.data_file.file_path)
    return {storage.same(n) for n in names}
