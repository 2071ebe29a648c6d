"""Iceberg over encrypted data files: what pyiceberg would do, done with the lake's data key.

pyiceberg reads a new file's Parquet footer for its row count and
statistics, and rewrites files itself to delete some of their rows; it knows
nothing of Parquet encryption. With the data key, the lake reads the footers
here (``data_files``) and deletes rows here (``delete_rows``): read with the
key, keep the other rows, write them encrypted, one overwrite snapshot.

Iceberg's manifests are not encrypted, and they hold each file's lower and
upper bounds per column. With the data key those bounds are kept only for
the columns a table is partitioned by (Iceberg needs them to place a file in
its partition, and they are times); every other column's values stay inside
the encrypted files. Without the key, nothing here changes what pyiceberg
does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weir.engine import DataKey
from weir.engine.atrest import write_encrypted

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table, Transaction
    from pyiceberg.table.metadata import TableMetadata


def data_files(
    table_metadata: TableMetadata, paths: Iterable[str], io: FileIO, key: DataKey | None
) -> list[DataFile]:
    """Iceberg's description of each new data file (row count, statistics, partition)."""
    paths = list(paths)
    if key is None:
        from pyiceberg.table import _parquet_files_to_data_files

        return list(_parquet_files_to_data_files(table_metadata, paths, io))
    return [_sealed_data_file(table_metadata, path, io, key) for path in paths]


def _sealed_data_file(
    table_metadata: TableMetadata, path: str, io: FileIO, key: DataKey
) -> DataFile:
    """As pyiceberg's ``parquet_file_to_data_file``, reading the footer with the key."""
    from pyiceberg.io.pyarrow import (
        _check_pyarrow_schema_compatible,
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    footer = key.footer(path)
    schema = table_metadata.schema()
    _check_pyarrow_schema_compatible(
        schema, footer.schema.to_arrow_schema(), format_version=table_metadata.format_version
    )
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer,
        stats_columns=compute_statistics_plan(schema, _bounds_of_partitions(table_metadata)),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=statistics.partition(table_metadata.spec(), schema),
        file_size_in_bytes=len(io.new_input(path)),
        sort_order_id=None,
        spec_id=table_metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _bounds_of_partitions(table_metadata: TableMetadata) -> dict[str, str]:
    """Table properties asking for no column's bounds but those of the partition columns."""
    schema = table_metadata.schema()
    properties = {**table_metadata.properties, "write.metadata.metrics.default": "none"}
    for spec in table_metadata.partition_specs:
        for partition in spec.fields:
            name = schema.find_column_name(partition.source_id)
            if name is not None:
                properties[f"write.metadata.metrics.column.{name}"] = "full"
    return properties


def add_files(
    transaction: Transaction, paths: list[str], summary: Mapping[str, str], key: DataKey
) -> None:
    """As pyiceberg's ``Transaction.add_files``, for encrypted files (one fast append)."""
    from pyiceberg.table import TableProperties

    metadata = transaction.table_metadata
    if metadata.name_mapping() is None:
        mapping: dict[str, Any] = {
            TableProperties.DEFAULT_NAME_MAPPING: metadata.schema().name_mapping.model_dump_json()
        }
        transaction.set_properties(mapping)
    files = data_files(transaction.table_metadata, paths, transaction._table.io, key)
    with transaction.update_snapshot(snapshot_properties=dict(summary)).fast_append() as append:
        for data_file in files:
            append.append_data_file(data_file)


def delete_rows(
    transaction: Transaction,
    table: Table,
    condition: BooleanExpression,
    summary: Mapping[str, str],
    key: DataKey,
) -> None:
    """As pyiceberg's ``Transaction.delete``, reading and writing the files with the key.

    Files whose every row matches (by the manifests) go without being read; each
    other file that may hold a match is read, and written again without the
    matching rows when it held any.
    """
    from pyiceberg.expressions.visitors import bind
    from pyiceberg.io.pyarrow import _expression_to_complementary_pyarrow

    with transaction.update_snapshot(snapshot_properties=dict(summary)).delete() as delete:
        delete.delete_by_predicate(condition)
    if not delete.rewrites_needed:
        return
    metadata = transaction.table_metadata
    keep = _expression_to_complementary_pyarrow(
        bind(metadata.schema(), condition, True), metadata.schema()
    )
    tasks = transaction._scan(row_filter=condition).plan_files()
    folder = Path(_local(table.location())) / "data" / f"delete-{uuid.uuid4().hex[:12]}"
    replaced: list[tuple[DataFile, list[str]]] = []
    for number, task in enumerate(tasks):
        rows = key.read(_local(task.file.file_path))
        kept = rows.filter(keep)
        if kept.num_rows == rows.num_rows:
            continue
        written = (
            write_encrypted(kept.to_batches(), kept.schema, folder / f"file-{number}", key)
            if kept.num_rows
            else []
        )
        replaced.append((task.file, written))
    if not replaced:
        return
    with transaction.update_snapshot(snapshot_properties=dict(summary)).overwrite() as overwrite:
        for old, _ in replaced:
            overwrite.delete_data_file(old)
        added = [path for _, paths in replaced for path in paths]
        for data_file in data_files(transaction.table_metadata, added, table.io, key):
            overwrite.append_data_file(data_file)


def _local(location: str) -> str:
    from weir.lake.storage import local_path

    return local_path(location)
