"""The lake component: Iceberg tables, snapshots, time travel and read-only SQL."""

from weir.lake.catalog import LAYERS, Lake, Layer, SnapshotInfo, TableWrite

__all__ = ["LAYERS", "Lake", "Layer", "SnapshotInfo", "TableWrite"]
