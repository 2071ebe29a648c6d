"""The lake component: Iceberg tables, snapshots, time travel, the write lock, lake tables as views."""

from typing import TYPE_CHECKING

from weir.lake.catalog import LAYERS, Lake, Layer, SnapshotInfo, TableWrite
from weir.lake.maintenance import Maintenance, Rewritten
from weir.lake.query import LakeViews, Pin, Timeout
from weir.lake.sealing import Sealing, opened_scan
from weir.lake.storage import (
    LocalStorage,
    ObjectStorage,
    Storage,
    StorageError,
    local_path,
    storage_for,
)

__all__ = [
    "LAYERS",
    "Lake",
    "LakeViews",
    "Layer",
    "LocalStorage",
    "Maintenance",
    "ObjectStorage",
    "Pin",
    "Rewritten",
    "Sealing",
    "SnapshotInfo",
    "Storage",
    "StorageError",
    "TableWrite",
    "Timeout",
    "local_path",
    "opened_scan",
    "storage_for",
]

if TYPE_CHECKING:  # for callers' annotations (pyiceberg loads on first use)
    from pyiceberg.table.snapshots import Snapshot as Snapshot

    from weir.lake.filters import RowFilter as RowFilter
