"""Encryption at rest: with ``encryption: {at_rest: true}`` no byte on disk shows a record's value.

The golden retailer is ingested and built with the option on, and an admin's
query puts a customer's e-mail in the audit log. Every byte of every file
under the state folder (Parquet data files, Iceberg manifests and metadata,
the SQLCipher metadata database and its write-ahead log) is searched for the
customers' personal values, raw and decoded: none is there, although the
same search with the data key finds them in the data files. Everything still
works: every KPI answers as worked out by hand, time travel reads an older
snapshot, an erasure leaves no trace. A wrong or missing master key, and a
setting that differs from the one the project was made with, stop at open
with a clear error.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import drop_sections, files_under, killed_at_random, land, pos_csv, pos_line
from golden.check import ONE_PER_KPI, assert_answer
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.cli.main import cli
from weir.engine import DataKey, DuckDBEngine
from weir.engine.atrest import write_encrypted
from weir.errors import ProjectError
from weir.governance.proof import scan
from weir.lake import Lake, TableWrite
from weir.lake.filters import every_row, one_of
from weir.lifecycle import verify_archive
from weir.metadata.master import MasterKeyError
from weir.metadata.store import sqlite_url

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
EMAIL = "dev.patel@example.net"
PERSONAL = {
    "email": EMAIL,
    "phone": "+44 7700 900104",
    "last_name": "Patel",
    "address": "7 Albion Street, Leeds, LS2 8JS",
    "other": "amira.okafor@example.net",
    "card": "4111111111111111",
}


def turn_on(root: Path, on: bool = True) -> None:
    path = root / "weir.yml"
    text = path.read_text(encoding="utf-8").split("\nencryption:")[0]
    path.write_text(text + f"\nencryption:\n  at_rest: {str(on).lower()}\n", encoding="utf-8")


@dataclass
class Sealed:
    root: Path
    project: weir.Project


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sealed]:
    root = weir.init_project(tmp_path_factory.mktemp("atrest") / "shop")
    turn_on(root)
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    project = weir.Project(root)
    _, result = project.run()
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    project.access.query(
        f"SELECT customer_id FROM staging.customers WHERE email = '{EMAIL}'", "ada", role="admin"
    )
    yield Sealed(root, project)
    project.close()


def test_no_byte_on_disk_holds_a_value_of_a_known_record(sealed: Sealed) -> None:
    state = sealed.project.files.state_dir
    files = files_under(state)
    data_files = [p for p in files if p.suffix == ".parquet"]
    assert len(data_files) > 20 and any(p.suffix == ".avro" for p in files)
    assert clear_values(state) == []
    for path in data_files:  # Parquet's encrypted-footer mode, readable by nobody without the key
        head, tail = path.read_bytes()[:4], path.read_bytes()[-4:]
        assert (head, tail) == (b"PARE", b"PARE"), path
    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(data_files[0])
    # the erasure proof's scan decodes Parquet and the manifests' Avro: without the key it
    # finds nothing (and says which files it could not decode); with it, the data files hold them
    blind = scan(state, PERSONAL)
    assert blind.hits == ()
    assert {str(p.relative_to(state)) for p in data_files} <= set(blind.undecoded)
    seen = scan(state, PERSONAL, key=sealed.project.engine.at_rest)
    assert {hit.value for hit in seen.hits} >= {"email", "last_name", "address", "other"}
    assert {hit.found_in for hit in seen.hits} == {"parquet"}


# reads every file in a child process: reading the SQLite file in the process that has it
# open would drop that process's locks on it
_CLEAR = """
import json, sys
from pathlib import Path
state, values = Path(sys.argv[1]), json.load(sys.stdin)
found = []
for path in sorted(p for p in state.rglob("*") if p.is_file()):
    data = path.read_bytes()
    if path.name == "catalog.db" and data.startswith(b"SQLite format 3"):
        found.append([path.name, "a plain SQLite database"])
    found += [[str(path.relative_to(state)), label] for label, value in values.items()
              if value.lower().encode() in data.lower()]
json.dump(found, sys.stdout)
"""


def clear_values(state: Path) -> list[list[str]]:
    """(file, label) of each personal value found in clear under ``state``."""
    child = subprocess.run(
        [sys.executable, "-c", _CLEAR, str(state)],
        input=json.dumps(PERSONAL),
        capture_output=True,
        text=True,
        check=True,
    )
    found: list[list[str]] = json.loads(child.stdout)
    return found


@pytest.mark.parametrize("entry", ONE_PER_KPI, ids=[e["kpi"] for e in ONE_PER_KPI])
def test_every_kpi_answers_as_worked_by_hand(sealed: Sealed, entry: dict[str, Any]) -> None:
    assert_answer(sealed.project, entry)


def test_filters_and_time_travel_read_the_encrypted_files(sealed: Sealed) -> None:
    project = sealed.project
    count = "SELECT count(*) AS n FROM staging.pos"
    [before] = project.sql(count).to_pylist()
    old = project.lake.snapshot_for("staging", "pos")
    assert old is not None
    late_sale = pos_line("T-LATE-1", product_id=101, timestamp=1737288000)  # 2025-01-19 12:00
    land(sealed.root, "pos", "pos_2025-01-19_store001_late.csv", pos_csv(late_sale))
    [result] = project.sources.ingest(["pos"])
    assert result.counts.accepted == 1
    assert project.sql(count).to_pylist() == [{"n": before["n"] + 1}]
    assert project.sql(count, snapshot=old.snapshot_id).to_pylist() == [before]
    # a filter on an encrypted scan (DuckDB would fail its AES tag if it were pushed down)
    late = "SELECT transaction_id FROM staging.pos WHERE transaction_id LIKE 'T-LATE%'"
    assert project.sql(late).to_pylist() == [{"transaction_id": "T-LATE-1"}]
    assert project.sql(late, snapshot=old.snapshot_id).to_pylist() == []
    # an incremental build deletes its window's rows from encrypted files and writes them again
    run = project.models.run()
    assert run.ok, [(b.model, b.error) for b in run.builds if b.status == "failed"]
    operations = [snapshot.operation for snapshot in project.lake.snapshots("marts", "sales_daily")]
    assert operations[-2:] == ["delete", "append"]


def test_a_wrong_or_missing_master_key_stops_at_open(
    sealed: Sealed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEIR_MASTER_KEY_FILE")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    with pytest.raises(MasterKeyError, match="no master key was given"):
        weir.Project(sealed.root)
    monkeypatch.setenv("WEIR_MASTER_KEY", secrets.token_hex(32))
    with pytest.raises(MasterKeyError, match="metadata database is encrypted under master key"):
        weir.Project(sealed.root)
    answer = CliRunner().invoke(cli, ["--project", str(sealed.root), "sql", "SELECT 1 AS x"])
    assert answer.exit_code == 1
    assert "master key" in answer.stderr and "Traceback" not in answer.output
    assert not (tmp_path / ".config").exists()  # nothing made for a project that has its key


def test_erasure_leaves_no_trace_with_the_key(sealed: Sealed) -> None:
    project = sealed.project
    subject = project.subjects.resolve(email=EMAIL)
    certificate = project.subjects.erase(subject, "GDPR art. 17 request, ticket 77").as_dict()
    assert certificate["verified"], certificate["verification"]
    assert certificate["verification"]["undecoded"] == []  # it decrypted every data file
    query = f"SELECT count(*) AS n FROM staging.customers WHERE email = '{EMAIL}'"
    assert project.sql(query).to_pylist() == [{"n": 0}]
    after = scan(project.files.state_dir, {"email": EMAIL}, key=project.engine.at_rest)
    assert after.hits == ()
    assert project.sql("SELECT count(*) AS n FROM staging.customers").to_pylist() == [{"n": 16}]


def test_the_setting_stays_the_one_the_project_was_made_with(tmp_path: Path) -> None:
    plain = weir.init_project(tmp_path / "plain", example=None)
    weir.Project(plain).close()
    turn_on(plain)
    with pytest.raises(ProjectError, match="was made without it"):
        weir.Project(plain)
    sealed = weir.init_project(tmp_path / "sealed", example=None)
    turn_on(sealed)
    weir.Project(sealed).close()
    assert (sealed / ".weir" / "catalog.key").exists()
    turn_on(sealed, False)
    with pytest.raises(ProjectError, match=r"set `encryption: \{at_rest: true\}`"):
        weir.Project(sealed)


def test_rotating_the_master_key_moves_the_database_key_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = weir.init_project(tmp_path / "shop", example=None)
    turn_on(root)
    with weir.Project(root) as project:
        value = project.keys.key("mask", "mask")
        new_file = tmp_path / "new.key"
        project.keyring.rotate_master(new_file)
    with pytest.raises(MasterKeyError):
        weir.Project(root)  # the old master key opens neither the store nor the database
    monkeypatch.setenv("WEIR_MASTER_KEY_FILE", str(new_file))
    with weir.Project(root) as project:
        assert project.keys.key("mask", "mask") == value
    sealed = (root / ".weir" / "catalog.key").read_text(encoding="utf-8")
    assert sealed.count('"nonce"') == 1  # the copy under the old key is gone


def _lake(tmp_path: Path, key: DataKey) -> Lake:
    return Lake(sqlite_url(tmp_path / "catalog.db"), tmp_path / "lake", DuckDBEngine(key))


def _ids(lake: Lake) -> list[int]:
    files = lake.data_files("staging", "t", lake.snapshot_for("staging", "t"))
    for path in files:
        assert Path(path).read_bytes()[-4:] == b"PARE", path
    if not files:
        return []
    with lake.engine.writer() as session:
        rows = session.execute(f"SELECT id FROM {lake.engine.scan(files)} ORDER BY id").fetchall()
    return [row[0] for row in rows]


def test_deleting_rows_rewrites_encrypted_files_encrypted(tmp_path: Path) -> None:
    lake = _lake(tmp_path, DataKey(os.urandom(32)))
    for batch, start in (("b1", 0), ("b2", 100)):
        with lake.engine.writer() as session:
            written = lake.write_parquet(
                session,
                "staging",
                "t",
                f"SELECT {start} + i AS id, 'name ' || i AS name FROM range(5) r(i)",
                batch,
            )
        lake.commit(batch, [written], {})
    assert _ids(lake) == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    lake.commit("b3", [TableWrite("staging", "t", delete=one_of("id", [1, 3, 100]))], {})
    assert _ids(lake) == [0, 2, 4, 101, 102, 103, 104]
    lake.commit("b4", [TableWrite("staging", "t", delete=every_row())], {})
    assert _ids(lake) == []
    lake.close()


DAY0 = date(2025, 1, 1)
rows_strategy = st.lists(
    st.tuples(
        st.integers(-(2**40), 2**40),
        st.text(max_size=12),
        st.one_of(st.none(), st.integers(0, 4).map(lambda n: DAY0 + timedelta(days=n))),
    ),
    max_size=60,
)


@settings(max_examples=25, deadline=None)
@given(rows=rows_strategy, chunk=st.integers(1, 7))
def test_encrypted_files_hold_every_row_one_day_each(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[int, str, date | None]], chunk: int
) -> None:
    folder = tmp_path_factory.mktemp("sealed")
    key = DataKey(os.urandom(32))
    table = pa.table(
        {
            "n": pa.array([r[0] for r in rows], pa.int64()),
            "s": pa.array([r[1] for r in rows], pa.string()),
            "_day": pa.array([r[2] for r in rows], pa.date32()),
        }
    )
    written = write_encrypted(table.to_batches(chunk), table.schema, folder, key, "_day")
    back = []
    for path in written:
        part = key.read(path)
        assert part.column_names == ["n", "s"] and Path(path).read_bytes()[-4:] == b"PARE"
        day = Path(path).parent.name.removeprefix("_day=")
        back += [
            (n, s, None if day == "NULL" else date.fromisoformat(day))
            for n, s in zip(part.column("n").to_pylist(), part.column("s").to_pylist(), strict=True)
        ]
    assert sorted(back, key=repr) == sorted(rows, key=repr)
    assert len(written) == len({r[2] for r in rows})


CRASHING = """
import sys, weir
weir.Project(sys.argv[1]).sources.ingest(["pos"])
"""


def test_an_encrypted_batch_killed_at_random_moments_is_whole_or_absent(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    turn_on(root)
    lines = [
        pos_line(f"T{i:05d}", timestamp=1735732800 + i, card_number=PERSONAL["card"])
        for i in range(3000)
    ]
    for day in range(3):
        land(root, "pos", f"pos_2025-01-0{day + 1}_store001.csv", pos_csv(*lines))
    rng = random.Random(20261207)
    for _ in range(3):
        killed_at_random(CRASHING, root, rng, 0.5, 4.0)
        with weir.Project(root) as project:
            project.sources.recover()
            committed = [b for b in project.ledger.batches("pos") if b.status == "committed"]
            tables = set(project.lake.tables())
            staged = (
                project.sql("SELECT count(*) AS n FROM staging.pos").to_pylist()[0]["n"]
                if ("staging", "pos") in tables
                else 0
            )
        assert staged == sum(b.counts.accepted for b in committed)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        # the three files hold the same transactions: one copy of each is kept
        assert project.sql("SELECT count(*) AS n FROM staging.pos").to_pylist() == [{"n": 3000}]
    for path in files_under(root / ".weir"):
        assert PERSONAL["card"].encode() not in path.read_bytes()
        if path.suffix == ".parquet":
            assert path.read_bytes()[-4:] == b"PARE", path


def test_an_erasure_keeps_the_values_it_looks_for_encrypted(tmp_path: Path) -> None:
    from weir.governance.erasure import _read_proof, _write_proof

    key, path = DataKey(os.urandom(32)), tmp_path / "keys" / "erasure-1.json"
    _write_proof(path, {"email": EMAIL}, key)
    assert EMAIL.encode() not in path.read_bytes()
    assert _read_proof(path, key) == {"email": EMAIL}
    _write_proof(path, {"email": EMAIL}, None)  # a project without encryption at rest
    assert _read_proof(path, None) == {"email": EMAIL}


def test_large_row_groups_read_back_whole_filtered_and_sorted(tmp_path: Path) -> None:
    lake = _lake(tmp_path, DataKey(os.urandom(32)))
    rows = 300_000  # three row groups, each column chunk far past one default page
    with lake.engine.writer() as session:
        written = lake.write_parquet(
            session,
            "staging",
            "t",
            f"SELECT i AS id, i % 7 AS q, 'name ' || (i % 50000) AS name FROM range({rows}) r(i)",
            "b1",
        )
    lake.commit("b1", [written], {})
    files = lake.data_files("staging", "t", lake.snapshot_for("staging", "t"))
    scan_sql = lake.engine.scan(files)
    with lake.engine.writer() as session:
        whole = session.execute(
            f"SELECT count(*), sum(id), sum(q), count(DISTINCT name) FROM {scan_sql}"
        ).fetchone()
        filtered = session.execute(f"SELECT count(*) FROM {scan_sql} WHERE q = 3").fetchone()
        top = session.execute(f"SELECT id FROM {scan_sql} ORDER BY id DESC LIMIT 2").fetchall()
    # sum(id) = n(n-1)/2; q = i % 7 is 0..6 (21) in each of the 42,857 full weeks of
    # 0..299,998, and 0 for the one row left (299,999 = 7 * 42,857)
    assert whole == (rows, rows * (rows - 1) // 2, 21 * 42_857 + 0, 50_000)
    assert filtered == (len(range(3, rows, 7)),)
    assert top == [(rows - 1,), (rows - 2,)]
    lake.close()


def test_an_archive_is_written_encrypted_and_verified_with_the_key(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    drop_sections(root, "schedules", "alerts")
    turn_on(root)
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(
            "retention:\n  sources:\n    pos:\n      staging: {keep: 5d, then: archive, age: event}\n"
        )
    for day in range(1, 11):  # day d has d sales at noon: days 1..5 (15 sales) go
        noon = int(datetime(2025, 1, day, 12, tzinfo=UTC).timestamp())
        lines = [pos_line(f"T{day:02d}-{i}", timestamp=noon) for i in range(day)]
        land(root, "pos", f"pos_2025-01-{day:02d}_store001.csv", pos_csv(*lines))
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        [done] = project.lifecycle.run(now=datetime(2025, 1, 11, tzinfo=UTC))
        assert (done.kind, done.rows, done.note) == ("archive", 15, "done")
        folder = Path(done.archive or "")
        key = project.engine.at_rest
        assert key is not None and verify_archive(folder, 15, key).rows == 15
        parts = sorted(folder.glob("part-*.parquet"))
        assert parts and all(part.read_bytes()[-4:] == b"PARE" for part in parts)
        archived = {
            i for part in parts for i in key.read(part).column("transaction_id").to_pylist()
        }
        assert archived == {f"T{d:02d}-{i}" for d in range(1, 6) for i in range(d)}
        assert project.sql("SELECT count(*) AS n FROM staging.pos").to_pylist() == [{"n": 40}]
