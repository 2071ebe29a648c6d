"""Rows deleted from a database source's table, found by comparing keys, as tombstones.

An incremental extract reads only rows that changed, so a deleted row is never
read. Now and then (``database.deletes.every``) the extract also reads every
key of the table and compares them with the newest version of each key in
staging: a key whose newest version is not already a tombstone and that the
table no longer holds gets one. A tombstone is that newest version again, with
the cursor set to the time of the check and the deletion flag true, so it is
a new version of its row that passes the contract like the others (card
columns are left empty: staging holds only their tokens). The stamp of the
check commits with the batch, like the cursor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from weir.engine import ident, lit
from weir.lake import Lake
from weir.project import SourceConfig

KeyChunks = Iterator[list[dict[str, str | None]]]


def tombstones(
    lake: Lake,
    source: SourceConfig,
    folder: Path,
    now: datetime,
    read_keys: Callable[[SourceConfig, list[str]], KeyChunks],
) -> Iterator[dict[str, str | None]]:
    """The tombstones of the rows gone from the table (whose keys ``read_keys`` gives)."""
    config = source.database
    assert config is not None and config.deletes is not None and config.cursor is not None
    if not lake.exists("staging", source.name):
        return
    flag, cursor = config.deletes.flag, config.cursor
    ids = [k for k in source.key if k != cursor]
    # only key columns, never card data (the contract refuses a pci key with deletes);
    # left by a crash, the next extract removes it with the extract's other leftovers
    keys_file = folder / f"keys-{int(time.time() * 1e6)}.jsonl.part"
    try:
        with keys_file.open("w", encoding="utf-8") as handle:
            for chunk in read_keys(source, ids):
                handle.write("".join(json.dumps(r) + "\n" for r in chunk))
        yield from _gone(lake, source, keys_file, ids, flag, cursor, now)
    finally:
        keys_file.unlink(missing_ok=True)


def _gone(
    lake: Lake,
    source: SourceConfig,
    keys_file: Path,
    ids: list[str],
    flag: str,
    cursor: str,
    now: datetime,
) -> Iterator[dict[str, str | None]]:
    files = lake.data_files("staging", source.name, lake.snapshot_for("staging", source.name))
    if not files:
        return
    partition = ", ".join(ident(k) for k in ids)
    texts = []
    for column in source.columns:
        name = ident(column.name)
        if column.name == cursor:
            value = lit(repr(now.timestamp()))
        elif column.name == flag:
            value = "'true'"
        elif column.classification == "pci":
            value = "NULL"
        elif column.type == "epoch":
            value = f"CAST(epoch({name}) AS VARCHAR)"
        elif column.type == "bool":
            value = f"CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END"
        else:
            value = f"CAST({name} AS VARCHAR)"
        texts.append(f"{value} AS {name}")
    struct = "{" + ", ".join(f"{lit(k)}: 'VARCHAR'" for k in ids) + "}"
    present = (
        f"read_json({lit(str(keys_file))}, format = 'newline_delimited', columns = {struct})"
        if keys_file.stat().st_size
        else "(SELECT " + ", ".join(f"NULL::VARCHAR AS {ident(k)}" for k in ids) + " WHERE false)"
    )
    matched = " AND ".join(f"p.{ident(k)} = CAST(latest.{ident(k)} AS VARCHAR)" for k in ids)
    query = f"""
        WITH latest AS (
            SELECT * FROM {lake.engine.scan(files)}
            QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {ident(cursor)} DESC) = 1)
        SELECT {", ".join(texts)} FROM latest
        WHERE NOT coalesce({ident(flag)}, false)
          AND NOT EXISTS (SELECT 1 FROM {present} AS p WHERE {matched})
        ORDER BY {partition}"""
    con = lake.engine.writer()
    try:
        reader = con.arrow_batches(query, 10_000)
        for batch in reader:
            yield from batch.to_pylist()
    finally:
        con.close()
