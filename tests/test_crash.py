"""A batch killed at a random moment leaves all of itself in the lake or none of it."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
from conftest import killed_at_random

import weir

SCRIPT = """
import sys, weir
weir.Project(sys.argv[1]).sources.ingest(["pos"])
"""


def _land_pos(root: Path, files: int, rows: int) -> int:
    """Write ``files`` POS files of ``rows`` records each, a few of them dirty; returns the total."""
    folder = root / "landing" / "pos"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    for number in range(files):
        con.execute(
            f"""COPY (SELECT 'T{number:02d}-' || i AS transaction_id, 1 + {number} AS store_id,
                       1 + i % 300 AS product_id,
                       CASE WHEN i % 997 = 0 THEN 'abc' ELSE CAST(1 + i % 4 AS VARCHAR) END AS quantity,
                       round(5 + (i % 40) * 1.25, 2) AS revenue, NULL AS discount_applied,
                       1735689600 + i AS timestamp, NULL AS customer_id,
                       CASE WHEN i % 5 = 0 THEN '4111111111111111' END AS card_number
                FROM range({rows}) t(i))
                TO '{folder}/pos_2025-01-{number + 1:02d}_store001.csv' (HEADER)"""
        )
    con.close()
    return files * rows


def _lake_counts(root: Path) -> tuple[int, int, int]:
    """Rows of pos in raw, staging and quarantine (a table a crash kept from being created has none)."""
    with weir.Project(root) as project:
        tables = set(project.lake.tables())

        def count(layer: str) -> int:
            if (layer, "pos") not in tables:
                return 0
            return int(project.sql(f"SELECT count(*) AS n FROM {layer}.pos").to_pylist()[0]["n"])

        return count("raw"), count("staging"), count("quarantine")


def test_sigkill_at_random_moments_leaves_whole_batches(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    total = _land_pos(root, files=4, rows=60_000)
    rng = random.Random(20261122)
    for _ in range(4):
        killed_at_random(SCRIPT, root, rng, 0.3, 3.0)
        with weir.Project(root) as project:
            project.sources.recover()
            batches = project.ledger.batches("pos")
            committed = [b for b in batches if b.status == "committed"]
        # a batch rolled back leaves none of its files (whole or cut short) in the lake
        for aborted in (b.batch_id for b in batches if b.status == "aborted"):
            assert not list((root / ".weir" / "lake").glob(f"*/*/data/{aborted}")), aborted
        raw, staged, held = _lake_counts(root)
        # whatever the moment of the kill: either the batch is committed and whole, or absent
        expected_raw = sum(b.counts.received for b in committed)
        assert raw == expected_raw
        assert staged == sum(b.counts.accepted for b in committed)
        assert held == sum(b.counts.quarantined for b in committed)
        if committed:
            break  # the batch got through; later runs find no new file
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        [status] = [s for s in project.sources.status() if s.source == "pos"]
    raw, staged, held = _lake_counts(root)
    assert raw == total == status.totals.received
    assert staged + held == total
    assert held == status.totals.quarantined == 4 * len(range(0, 60_000, 997))
    blobs = b"".join(p.read_bytes() for p in (root / ".weir").rglob("*") if p.is_file())
    assert b"4111111111111111" not in blobs
