"""A reader learns of another writer's commit from the lake's change signal, not a query per read.

Two ``Lake`` objects over one SQLite catalog stand for two processes (an API
and a collector's flush process): what one commits, the other reads at once,
and between commits the reader does not query the catalog at all.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from weir.engine.duckdb_engine import DuckDBEngine
from weir.lake import Lake


def _lake(root: Path) -> Lake:
    return Lake(f"sqlite:///{root}/catalog.db", root / "lake", DuckDBEngine())


def _commit(lake: Lake, batch: str, value: int) -> None:
    with lake.engine.writer() as session:
        write = lake.write_parquet(session, "raw", "events", f"SELECT {value} AS n", batch)
    lake.commit(batch, [write], {})


def test_a_commit_elsewhere_is_seen_at_once_and_reads_between_commits_query_nothing(
    tmp_path: Path,
) -> None:
    writer, reader = _lake(tmp_path), _lake(tmp_path)
    assert reader.tables() == []
    _commit(writer, "b1", 1)
    assert reader.tables() == [("raw", "events")]
    first = reader.reading("raw", "events").metadata_location

    queries: list[str] = []
    sa.event.listen(reader.db, "before_cursor_execute", lambda *a: queries.append(a[2]))
    for _ in range(5):
        assert reader.reading("raw", "events").metadata_location == first
        assert reader.exists("raw", "events")
    assert queries == []  # the signal did not move: no query of the catalog

    _commit(writer, "b2", 2)
    assert reader.reading("raw", "events").metadata_location != first
    assert len(queries) == 1  # one read of the table of tables, then the new metadata
    writer.close()
    reader.close()


def test_without_a_signal_every_read_asks_the_catalog(tmp_path: Path) -> None:
    """A lake nobody has written through this signal yet (or a catalog on a server) polls."""
    writer, reader = _lake(tmp_path), _lake(tmp_path)
    _commit(writer, "b1", 1)
    writer.changes.unlink()
    queries: list[str] = []
    sa.event.listen(reader.db, "before_cursor_execute", lambda *a: queries.append(a[2]))
    reader.reading("raw", "events")
    reader.reading("raw", "events")
    assert len(queries) == 2
    writer.close()
    reader.close()
