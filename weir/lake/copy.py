"""Copying a lake to another catalog and storage (``weir migrate``): the current state of each table.

Each table of the source is made again in the target (same schema, same
partitioning, same properties) and its current snapshot's data files are
copied there, file by file, to the same place under the new table's location,
then added as one snapshot. Older snapshots are not copied: their Iceberg
metadata names files by their full old location, so the target's history
starts at the copy (``HISTORY_STARTS``), and a read as of an earlier time is
refused with that explanation. The source is only read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from weir.errors import WeirError
from weir.lake import atrest
from weir.lake.catalog import HISTORY_STARTS, Lake


@dataclass(frozen=True)
class TableCopy:
    """One table copied: its rows and files in the source and in the target."""

    table: str
    source_snapshot: int | None
    files: int
    rows: int
    copied_rows: int

    @property
    def ok(self) -> bool:
        return self.rows == self.copied_rows


def copy_lake(source: Lake, target: Lake) -> list[TableCopy]:
    """Copy every table's current state from ``source`` to ``target`` (whose catalog is empty)."""
    present = target.tables()
    if present:
        raise WeirError(
            f"the target catalog already holds {len(present)} lake table(s)"
            f" ({', '.join('.'.join(t) for t in present[:3])})",
            "migrate into a new, empty database (and a new lake location)",
        )
    copies = []
    started = str(int(time.time() * 1000))
    for layer, name in source.tables():
        table = source.table(layer, name)
        snapshot = table.current_snapshot()
        identifier = f"{layer}.{name}"
        target.catalog.create_namespace_if_not_exists(layer)
        made = target.catalog.create_table(
            identifier,
            schema=table.schema(),
            partition_spec=table.spec(),
            properties={**table.properties, HISTORY_STARTS: started},
        )
        files = source.data_files(layer, name, snapshot)
        old_root = source.storage.location(table.location()).rstrip("/")
        new_root = target.storage.location(made.location()).rstrip("/")
        copied = []
        for path in files:
            if not path.startswith(old_root + "/"):
                raise WeirError(
                    f"{identifier}: data file {path} is outside the table's folder {old_root}",
                    "compact the table first (`weir lake compact`), then migrate",
                )
            new = new_root + path[len(old_root) :]
            try:
                target.storage.copy_from(source.storage, path, new)
            except OSError as exc:
                raise WeirError(
                    f"cannot copy {path} to {new}: {exc}",
                    "check the new lake location (it must be writable, its bucket must exist);"
                    " the source is unchanged: migrate again into a new database and location",
                ) from None
            copied.append(new)
        if copied:
            summary = {"weir.kind": "migrate"}
            if snapshot is not None:
                summary["weir.migrated-from-snapshot"] = str(snapshot.snapshot_id)
            transaction = made.transaction()
            key = target.engine.at_rest
            if key is not None:
                atrest.add_files(transaction, copied, summary, key)
            else:
                transaction.add_files(
                    copied, snapshot_properties=summary, check_duplicate_files=False
                )
            transaction.commit_transaction()
        # counted again from what the target's catalog now says the table holds
        now = target.data_files(layer, name, target.table(layer, name).current_snapshot())
        copies.append(
            TableCopy(
                identifier,
                snapshot.snapshot_id if snapshot is not None else None,
                len(files),
                _rows(source, files),
                _rows(target, now),
            )
        )
    return copies


def _rows(lake: Lake, files: list[str]) -> int:
    """The rows of ``files``, counted by the engine (through the lake's storage)."""
    if not files:
        return 0
    with lake.engine.writer() as session:
        found = session.execute(f"SELECT count(*) FROM {lake.engine.scan(files)}").fetchone()
    return int(found[0]) if found else 0
