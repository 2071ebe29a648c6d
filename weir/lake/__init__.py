"""The lake component: Iceberg tables, snapshots, time travel, the write lock, lake tables as views."""

from weir.lake.catalog import LAYERS, Lake, Layer, SnapshotInfo, TableWrite, local_path
from weir.lake.filters import RowFilter
from weir.lake.maintenance import Maintenance, Rewritten
from weir.lake.query import LakeViews, Pin, Timeout

__all__ = [
    "LAYERS",
    "Lake",
    "LakeViews",
    "Layer",
    "Maintenance",
    "Pin",
    "Rewritten",
    "RowFilter",
    "SnapshotInfo",
    "TableWrite",
    "Timeout",
    "local_path",
]
