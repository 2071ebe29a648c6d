"""The audit chain signed with the audit key, and the literals of audited SQL kept apart to erase."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import NewDatabase, bytes_outside
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.cli.main import cli
from weir.errors import WeirError
from weir.metadata import MetadataStore
from weir.metadata.audit import GENESIS, AuditEntry, AuditLog, AuditRecord, record_hash
from weir.metadata.literals import split_sql
from weir.metadata.store import sqlite_url

PII = "Jane.Doe@Example.com"
LOOKUP = f"SELECT * FROM marts.customer_spend WHERE lower(contact) = '{PII}' LIMIT 5"
COMMENTED = f"SELECT 1 -- asked by {PII}\nFROM marts.sessions WHERE s = {{'a': 1}}"


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    return AuditLog(MetadataStore(sqlite_url(tmp_path / "catalog.db")), tmp_path / "audit.head")


def query(log: AuditLog, sql: str, user: str = "ana") -> AuditRecord:
    return log.append(AuditEntry("query", sql, user, "analyst", ("marts.customer_spend",), 1))


def execute(database: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(database) as con:
        con.execute(sql, args)


def database_bytes(folder: Path) -> bytes:
    return bytes_outside(folder / "catalog.db", folder / "catalog.db-wal")


def test_sql_is_stored_as_a_template_and_read_back_whole(log: AuditLog, tmp_path: Path) -> None:
    for sql in (LOOKUP, COMMENTED, "SELEC 'half"):
        query(log, sql)
    assert [r.entry.action for r in log.records()] == ["SELEC 'half", COMMENTED, LOOKUP]
    with sqlite3.connect(tmp_path / "catalog.db") as con:
        stored = [row[0] for row in con.execute("SELECT action FROM weir_audit ORDER BY seq")]
        literals = con.execute("SELECT seq, idx, value FROM weir_audit_literals").fetchall()
    assert stored[0] == "SELECT * FROM marts.customer_spend WHERE lower(contact) = {0} LIMIT {1}"
    assert stored[1] == "SELECT {0} {1#}\nFROM marts.sessions WHERE s = {{{2}: {3}}}"
    assert stored[2] == "{0}"  # what the tokenizer cannot read is kept whole, as one literal
    assert (1, 0, f"'{PII}'") in literals and (2, 1, f"-- asked by {PII}") in literals
    assert log.verify().ok


def test_erasing_literals_keeps_the_chain_valid_and_the_text_out_of_the_file(
    log: AuditLog, tmp_path: Path
) -> None:
    query(log, LOOKUP)
    query(log, "SELECT count(*) FROM marts.sessions WHERE day = '2025-01-01'")
    query(log, COMMENTED, user="bob")
    assert log.find_literals([PII.upper()]) == 2  # either case
    assert log.find_literals(["O'Brien", ""]) == 0
    assert PII.lower().encode() in database_bytes(tmp_path).lower()
    assert log.erase_literals([PII.lower()]) == 2
    assert log.find_literals([PII]) == 0 and log.erase_literals([PII]) == 0
    result = log.verify()
    assert result.ok and result.records == 4, result
    erase, commented, other, lookup = log.records()
    assert lookup.entry.action == LOOKUP.replace(f"'{PII}'", "'<erased>'")
    assert commented.entry.action.startswith("SELECT 1 /* <erased> */\nFROM")
    assert other.entry.action.endswith("'2025-01-01'")  # other literals stay
    assert erase.entry.kind == "audit.erase" and erase.entry.rows == 2
    assert erase.entry.detail == {"erased": [[1, 0], [3, 1]]}
    assert PII.lower().encode() not in database_bytes(tmp_path).lower()


def test_a_literal_removed_or_changed_behind_the_logs_back_is_named(
    log: AuditLog, tmp_path: Path
) -> None:
    query(log, LOOKUP)
    query(log, LOOKUP)
    database = tmp_path / "catalog.db"
    execute(database, "UPDATE weir_audit_literals SET value = '''x''' WHERE seq = 2 AND idx = 0")
    result = log.verify()
    assert not result.ok and result.bad_seq == 2
    assert "record 2 was altered (its literal 0 does not match)" in str(result)
    execute(database, "DELETE FROM weir_audit_literals WHERE seq = 2 AND idx = 0")
    result = log.verify()
    assert not result.ok and result.bad_seq == 2
    assert "literal 0 was removed, and no erasure on the record says so" in str(result)


def test_a_record_rewritten_with_a_plain_hash_is_named(log: AuditLog, tmp_path: Path) -> None:
    """Someone who can write the database, but has no master key, cannot make a record verify."""
    for n in range(3):
        query(log, f"SELECT {n} FROM marts.sessions")
    record = log.records(before=3, limit=1)[0]
    unsigned = AuditRecord(record.seq, record.at, record.entry, record.prev_hash, "")
    forged = record_hash(unsigned.fields())  # the older chain's hash, of the SQL as read
    execute(
        tmp_path / "catalog.db",
        "UPDATE weir_audit SET action = ?, literals = NULL, hash = ? WHERE seq = 2",
        record.entry.action,
        forged,
    )
    result = log.verify()
    assert not result.ok and result.bad_seq == 2
    assert "record 2 was altered (it is unsigned" in str(result)


def test_an_older_unsigned_chain_verifies_and_the_signed_one_follows_it(
    log: AuditLog, tmp_path: Path
) -> None:
    """Records a weir before the key store wrote (plain sha256) stay as they are, and verify."""
    prev = GENESIS
    with sqlite3.connect(tmp_path / "catalog.db") as con:
        for seq in (1, 2, 3):
            entry = AuditEntry("query", f"SELECT {seq} -- old", "ana", None, (), seq)
            record = AuditRecord(seq, time.time(), entry, prev, "")
            prev = record_hash(record.fields())
            con.execute(
                "INSERT INTO weir_audit (seq, at, kind, user_name, role, action, datasets,"
                " row_count, duration_ms, allowed, reason, detail, prev_hash, hash)"
                " VALUES (?, ?, 'query', 'ana', NULL, ?, '[]', ?, NULL, 1, NULL, NULL, ?, ?)",
                (seq, record.at, entry.action, seq, record.prev_hash, prev),
            )
    log.head_file.write_text(json.dumps({"seq": 3, "hash": prev}))
    query(log, LOOKUP)
    found = log.keys.find("audit")
    assert found is not None and found[1].meta == {"chain_from": 4}
    result = log.verify()
    assert result.ok and result.records == 4, result
    assert [r.literals is None for r in log.records()] == [False, True, True, True]
    execute(tmp_path / "catalog.db", "UPDATE weir_audit SET row_count = 9 WHERE seq = 2")
    result = log.verify()
    assert not result.ok and result.bad_seq == 2 and "its hash does not match" in str(result)


def test_a_signed_record_without_an_audit_key_is_named(log: AuditLog, tmp_path: Path) -> None:
    query(log, LOOKUP)
    execute(tmp_path / "catalog.db", "DELETE FROM weir_keys WHERE name = 'audit'")
    fresh = AuditLog(log.store, log.head_file)  # a process that never held the key
    result = fresh.verify()
    assert not result.ok and result.bad_seq == 1
    assert "signed where the log is not" in str(result)


def test_the_audit_listing_shows_erased_literals(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop", example=None)
    with weir.Project(root) as project:
        with pytest.raises(WeirError):
            project.access.query(LOOKUP, "nobody")  # refused, and on the record as written
        assert project.audit.erase_literals([PII]) == 1
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["--project", str(root), "audit", "list", "--kind", "query", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["action"] == LOOKUP.replace(f"'{PII}'", "'<erased>'")
    verified = runner.invoke(cli, ["--project", str(root), "audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from("SELECT '\"{}$-/*\n 1x.é;"), max_size=60) | st.text())
def test_any_text_splits_into_a_template_that_gives_it_back(text: str) -> None:
    split = split_sql(text)
    assert split.assemble() == text
    assert all(literal.strip() for literal in split.literals)


def test_on_postgresql_erasing_keeps_the_chain_valid(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    url = new_database()
    log = AuditLog(MetadataStore(url), tmp_path / "audit.head")
    query(log, LOOKUP)
    query(log, COMMENTED)
    assert log.erase_literals([PII]) == 2 and log.verify().ok
    assert log.records(kind="query")[1].entry.action.count("'<erased>'") == 1
    plain = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as con:
        left = con.execute(
            "SELECT count(*) FROM weir_audit_literals WHERE value ILIKE %s", [f"%{PII}%"]
        )
        assert left.fetchone() == (0,)
        con.execute("UPDATE weir_audit SET user_name = 'nobody' WHERE seq = 2")
    result = log.verify()
    assert not result.ok and result.bad_seq == 2, result


ERASER = """
import sys
from pathlib import Path
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metadata.store import sqlite_url
folder = Path(sys.argv[1])
log = AuditLog(MetadataStore(sqlite_url(folder / "catalog.db")), folder / "audit.head")
log.keys.master()
print("ready", flush=True)
log.erase_literals([sys.argv[2]])
"""


def test_an_erasure_killed_at_any_moment_leaves_a_chain_that_verifies(
    log: AuditLog, tmp_path: Path
) -> None:
    """All of an erasure or none of it: its literals gone and its record there, or neither."""
    people = [f"person{n}@example.com" for n in range(3)]
    key = log._key()
    with log._locked() as db:  # 300 records in one transaction: quicker than one at a time
        for i in range(300):
            quoted = ", ".join(f"'{p}'" for p in people)
            last = log._insert(db, AuditEntry("query", f"SELECT {i} WHERE e IN ({quoted})"), key)
    log._advance_head(last)
    rng = random.Random(20261207)
    erasures = 0
    for person in people:
        process = subprocess.Popen(
            [sys.executable, "-c", ERASER, str(tmp_path), person], stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0, 0.06))  # before, inside or after the erasure (about 50 ms)
        process.kill()
        process.wait(timeout=30)
        result = log.verify()
        assert result.ok, result
        left, now = log.find_literals([person]), len(log.records(kind="audit.erase"))
        assert (left, now) in {(300, erasures), (0, erasures + 1)}, (left, now, erasures)
        if left == 0:  # committed: a retry finds nothing and finishes the scrub
            assert log.erase_literals([person]) == 0
            assert person.encode() not in database_bytes(tmp_path)
        erasures = now


@pytest.fixture(scope="module")
def shared_log(tmp_path_factory: pytest.TempPathFactory) -> AuditLog:
    folder = tmp_path_factory.mktemp("erasing")
    return AuditLog(MetadataStore(sqlite_url(folder / "catalog.db")), folder / "audit.head")


# letters the templates below do not hold outside their literals, so a value found is a literal's
VALUES = st.text(alphabet=st.sampled_from("zZéÉ'@0."), min_size=2, max_size=8)


@settings(max_examples=25, deadline=None)
@given(
    template=st.sampled_from(
        [
            "SELECT * FROM t WHERE a = {v} AND b = {w}",
            "SELECT {v} AS x, upper({w}) -- {v}",
            "SELECT 1 /* {w} */ WHERE c IN ({v}, {w}, 42)",
        ]
    ),
    value=VALUES,
    other=VALUES,
)
def test_erasing_any_value_removes_it_everywhere_and_keeps_the_chain(
    shared_log: AuditLog, template: str, value: str, other: str
) -> None:
    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    sql = template.format(v=quoted(value), w=quoted(other))
    appended = query(shared_log, sql)
    assert shared_log.records(limit=1)[0].entry.action == sql
    shared_log.erase_literals([value.upper()])
    shown = next(r for r in shared_log.records(kind="query", limit=3) if r.seq == appended.seq)
    assert value.casefold() not in shown.entry.action.casefold()
    assert shared_log.find_literals([value]) == 0
    assert shared_log.verify().ok


@pytest.mark.slow  # waits out SQLite's busy timeout (10 s) behind the reader
def test_an_erasure_a_reader_keeps_from_rewriting_the_file_says_so_and_a_retry_finishes(
    log: AuditLog, tmp_path: Path
) -> None:
    query(log, LOOKUP)
    reader = sqlite3.connect(tmp_path / "catalog.db", timeout=0.1)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM weir_audit").fetchone()  # a read transaction held open
    try:
        with pytest.raises(WeirError, match="could not be rewritten yet") as caught:
            log.erase_literals([PII])
        assert "run the same erasure again" in str(caught.value)
    finally:
        reader.rollback()
        reader.close()
    assert log.find_literals([PII]) == 0 and log.verify().ok  # the deletion itself is committed
    assert log.erase_literals([PII]) == 0
    assert PII.lower().encode() not in database_bytes(tmp_path).lower()
