"""Lake maintenance: a rewritten, expired and cleaned table keeps no byte of the rows it dropped.

A small Iceberg table on a SQLite catalog, two batches; the rows of one
customer are rewritten (identifier replaced, e-mail removed), the snapshots
that named the old file expired, and the files no snapshot needs deleted.
Then every file under the lake is read as bytes: Parquet data and its
statistics, Avro manifests with their column bounds, metadata JSON.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from weir.engine.duckdb_engine import DuckDBEngine
from weir.errors import NotFoundError
from weir.lake import Lake
from weir.lake.maintenance import Maintenance

PEOPLE = [("c1", "alice.erased@example.com", 10), ("c2", "bob.kept@example.com", 20)]


def _lake(root: Path) -> tuple[Lake, DuckDBEngine]:
    engine = DuckDBEngine()
    return Lake(f"sqlite:///{root}/catalog.db", root / "lake", engine), engine


def _rows(lake: Lake, engine: DuckDBEngine) -> list[tuple[object, ...]]:
    table = lake.table("raw", "people")
    files = [task.file.file_path for task in table.scan().plan_files()]
    with engine.writer() as session:
        return session.execute(f"SELECT * FROM {engine.scan(files)} ORDER BY n").fetchall()


def _holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes().lower()]


@pytest.fixture
def people(tmp_path: Path) -> tuple[Lake, DuckDBEngine, Path]:
    lake, engine = _lake(tmp_path)
    with engine.writer() as session:
        for number, (who, email, n) in enumerate(PEOPLE):
            select = f"SELECT '{who}' AS customer_id, '{email}' AS email, {n} AS n"
            write = lake.write_parquet(session, "raw", "people", select, f"b{number}")
            lake.commit(f"b{number}", [write], {})
    return lake, engine, tmp_path


def test_rewrite_expire_and_clean_leave_no_copy(
    people: tuple[Lake, DuckDBEngine, Path],
) -> None:
    lake, engine, root = people
    before = datetime.now(UTC)
    assert _holding(root / "lake", b"alice.erased")  # in the data file and the manifest bounds
    maintenance = Maintenance(lake)
    with lake.writing():
        done = maintenance.rewrite(
            "raw",
            "people",
            "customer_id = 'c1'",
            lambda scan: (
                "SELECT * REPLACE (CASE WHEN customer_id = 'c1' THEN 'p_7f3a' ELSE customer_id"
                " END AS customer_id, CASE WHEN customer_id = 'c1' THEN NULL ELSE email END"
                f" AS email) FROM {scan}"
            ),
        )
        expired = maintenance.expire("raw", "people", all_but_current=True)
        removed = maintenance.remove_unreferenced("raw", "people", also=done.replaced)
    assert done.rows == 1 and len(done.replaced) == 1 and len(done.written) == 1
    assert len(expired) == 3  # two batches and the overwrite; the empty seal is current
    assert done.replaced[0] in removed
    assert _rows(lake, engine) == [("p_7f3a", None, 10), ("c2", "bob.kept@example.com", 20)]
    assert _holding(root, b"alice.erased") == []
    assert _holding(root / "lake", b"bob.kept")  # the other customer is untouched
    # time travel before the kept history is refused, and says from when it is kept
    with pytest.raises(NotFoundError, match="keeps its history from"):
        lake.snapshot_for("raw", "people", as_of=before)


def test_rewrite_without_select_leaves_the_matching_rows_out(
    people: tuple[Lake, DuckDBEngine, Path],
) -> None:
    lake, engine, _ = people
    with lake.writing():
        done = Maintenance(lake).rewrite("raw", "people", "n < 15")
    assert done.rows == 1 and done.written == ()  # the file held only that row
    assert _rows(lake, engine) == [("c2", "bob.kept@example.com", 20)]


def test_nothing_matching_changes_nothing(people: tuple[Lake, DuckDBEngine, Path]) -> None:
    lake, _, _ = people
    snapshots = len(lake.snapshots("raw", "people"))
    with lake.writing():
        done = Maintenance(lake).rewrite("raw", "people", "customer_id = 'nobody'")
    assert done.snapshot_id is None and done.rows == 0
    assert len(lake.snapshots("raw", "people")) == snapshots


def test_a_data_file_not_yet_committed_is_kept(people: tuple[Lake, DuckDBEngine, Path]) -> None:
    """A model run writes its files before it commits: a clean-up in between must spare them."""
    lake, engine, _ = people
    with engine.writer() as session:
        pending = lake.write_parquet(session, "raw", "people", "SELECT 'c3', 'x', 30", "pending")
    old = Path(pending.files[0]).with_name("old.parquet")
    old.write_bytes(Path(pending.files[0]).read_bytes())
    an_hour_ago = time.time() - 7200
    os.utime(old, (an_hour_ago, an_hour_ago))
    with lake.writing():
        removed = Maintenance(lake).remove_unreferenced("raw", "people", grace=3600)
    assert removed == [str(old)]
    assert Path(pending.files[0]).exists()
