"""A sealed ingestion killed at a random moment: whole batches or none, and every value opens.

Sealing adds a write before the data files: the keys of the batch's new
subjects, in one transaction of the key store. Whatever the moment of the
SIGKILL, a committed batch's every sealed value opens (its key was stored
before any file referencing it was written), nothing is in clear on disk, and
a batch killed before its commit leaves at most unused keys.
"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
from conftest import encrypt_pii, killed_at_random

import weir

SCRIPT = """
import sys, weir
weir.Project(sys.argv[1]).sources.ingest(["customers"])
"""
FILES, ROWS = 2, 3_000


def _land_customers(root: Path) -> None:
    folder = root / "landing" / "customers"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    for number in range(FILES):
        con.execute(
            f"""COPY (SELECT {number * ROWS} + i AS customer_id, 'First' || i AS first_name,
                       'Last' || i AS last_name,
                       CASE WHEN i % 500 = 7 THEN 'not-an-email'
                            ELSE 'person{number}x' || i || '@example.net' END AS email,
                       '+44 7700 ' || i AS phone, i || ' High Street' AS address,
                       'GB' AS country, 1701561600.0 + i AS created_at
                FROM range(1, {ROWS + 1}) t(i))
                TO '{folder}/customers_2025-01-{number + 1:02d}.csv' (HEADER)"""
        )
    con.close()


def _check(root: Path) -> int:
    """Accepted rows in staging, each with its e-mail opened; the committed batches whole."""
    with weir.Project(root) as project:
        project.sources.recover()
        committed = [b for b in project.ledger.batches("customers") if b.status == "committed"]
        if ("staging", "customers") not in set(project.lake.tables()):
            assert not any(b.counts.accepted for b in committed)
            return 0
        [row] = project.sql(
            "SELECT count(*) AS n, count(email) AS opened,"
            " count(*) FILTER (WHERE email LIKE 'wpii1.%') AS sealed FROM staging.customers"
        ).to_pylist()
        assert row["n"] == sum(b.counts.accepted for b in committed)
        assert row["opened"] == row["n"] and row["sealed"] == 0
        return int(row["n"])


def test_sigkill_while_sealing_leaves_whole_batches_whose_values_open(tmp_path: Path) -> None:
    root = encrypt_pii(weir.init_project(tmp_path / "shop"))
    _land_customers(root)
    rng = random.Random(20261207)
    for _ in range(3):
        killed_at_random(SCRIPT, root, rng, 0.3, 2.5)
        if _check(root):
            break
    with weir.Project(root) as project:
        project.sources.ingest(["customers"])
    dirty = FILES * len(range(7, ROWS + 1, 500))
    assert _check(root) == FILES * ROWS - dirty
    blobs = b"".join(p.read_bytes() for p in (root / ".weir" / "lake").rglob("*.parquet"))
    assert b"@example.net" not in blobs and b"High Street" not in blobs
