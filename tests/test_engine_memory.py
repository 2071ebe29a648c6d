"""A DuckDB session's memory is bounded: what does not fit is spilled, never held.

Writers (ingestion, models, the lake's upkeep) take ``duckdb.memory_limit``
from weir.yml and spill into a folder of their own under the project's spill
folder, removed when they close; a folder left by a killed process is removed
by the next engine. With the lake encrypted at rest nothing may be spilled in
the clear, so a statement that does not fit fails with what to raise.
"""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

import weir
from weir.demo.generate import generate
from weir.engine import DuckDBEngine, OutOfMemory
from weir.engine.atrest import DataKey
from weir.errors import ProjectError

# about 290 MB of text in DuckDB: several times the 64 MB the sessions below may use
BIG = "CREATE TEMP TABLE t AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(3000000) r(i)"


def _setting(session: object, name: str) -> str:
    return str(session.execute(f"SELECT current_setting('{name}')").fetchone()[0])  # type: ignore[attr-defined]


def test_a_writer_spills_what_does_not_fit_and_removes_its_folder(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    engine = DuckDBEngine(memory_limit="64MB", spill=spill)
    with engine.writer() as session:
        assert _setting(session, "memory_limit") == "61.0 MiB"
        session.execute(BIG)
        [folder] = spill.iterdir()  # this session's own
        assert folder.name.startswith(f"{os.getpid()}-")
        assert any(f.name.endswith(".tmp") for f in folder.iterdir())  # it did spill
        rows = session.execute("SELECT count(*), count(DISTINCT s) FROM t").fetchall()
        assert rows == [(3_000_000, 3_000_000)]
    assert list(spill.iterdir()) == []


def test_an_encrypted_lake_spills_nothing_and_says_what_to_raise(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    engine = DuckDBEngine(DataKey(os.urandom(32)), memory_limit="64MB", spill=spill)
    with engine.writer() as session:
        assert _setting(session, "temp_directory") == ""
        with pytest.raises(OutOfMemory) as raised:
            session.execute(BIG)
    assert "\n" not in str(raised.value)
    assert raised.value.fix is not None and "duckdb.memory_limit" in raised.value.fix
    assert not spill.exists() or list(spill.rglob("*")) == []


def test_a_killed_process_spill_folder_is_removed_by_the_next_engine(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    ended = subprocess.Popen(["true"])  # a process that has ended
    ended.wait()
    dead = spill / f"{ended.pid}-0123456789ab"
    alive = spill / f"{os.getppid()}-0123456789ab"  # the process that started this one
    for folder in (dead, alive):
        folder.mkdir(parents=True)
        (folder / "duckdb_temp_storage_DEFAULT-0.tmp").write_bytes(b"spilled rows")
    DuckDBEngine(memory_limit="64MB", spill=spill)
    assert not dead.exists()
    assert (alive / "duckdb_temp_storage_DEFAULT-0.tmp").exists()


def test_weir_yml_bounds_an_ingest_larger_than_its_memory(tmp_path: Path) -> None:
    """A week of POS (about 15 MB of text) ingests in a session that may use 64 MB, as without it."""
    landing = tmp_path / "landing"
    generate(landing, days=7, scale=1.0, seed=3, start=date(2024, 1, 1))
    counts = {}
    for name, bound in (
        ("bounded", "\nduckdb: {memory_limit: 64MB, spill_dir: spilled}\n"),
        ("free", ""),
    ):
        root = weir.init_project(tmp_path / name)
        config = root / "weir.yml"
        config.write_text(config.read_text(encoding="utf-8") + bound, encoding="utf-8")
        with weir.Project(root) as project:
            [result] = project.sources.ingest(["pos"], path=landing / "pos")
            counts[name] = result.counts
            if name == "bounded":
                assert project.engine.spill == root / "spilled"
                with project.engine.writer() as session:
                    assert _setting(session, "memory_limit") == "61.0 MiB"
                assert list((root / "spilled").iterdir()) == []
    assert counts["bounded"] == counts["free"]
    assert counts["bounded"].received > 200_000


def test_a_memory_limit_that_is_not_a_size_is_refused_at_open(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    config = root / "weir.yml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\nduckdb: {memory_limit: lots}\n", encoding="utf-8"
    )
    with pytest.raises(ProjectError, match="memory_limit"):
        weir.Project(root)
