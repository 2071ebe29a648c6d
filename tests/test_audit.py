"""The audit log: every governed action recorded, in one hash chain that names any tampering."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from weir.cli.main import cli
from weir.governance.audit import GENESIS, AuditEntry, AuditLog, record_hash
from weir.metadata import MetadataStore


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    store = MetadataStore(f"sqlite:///{tmp_path / 'catalog.db'}")
    return AuditLog(store, tmp_path / "audit.head")


def fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            AuditEntry(
                "query",
                f"SELECT {i}",
                "ana",
                "sales_analyst",
                ("marts.sales_daily",),
                i,
                1.5,
                i % 3 != 0,
                None if i % 3 else "denied: role sales_analyst may not read staging.crm",
            )
        )


def execute(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as con:
        con.execute(sql)


def test_records_chain_from_genesis_and_verify(log: AuditLog) -> None:
    fill(log, 5)
    newest = log.records(limit=10)
    assert [r.seq for r in newest] == [5, 4, 3, 2, 1]
    oldest = newest[-1]
    assert oldest.prev_hash == GENESIS
    for later, earlier in itertools.pairwise(newest):
        assert later.prev_hash == earlier.hash
        assert record_hash(later.fields()) == later.hash
    result = log.verify()
    assert result.ok and result.records == 5 and result.head_seq == 5, result
    assert log.head() == (5, newest[0].hash)


def test_filters_and_paging(log: AuditLog) -> None:
    fill(log, 7)
    denied = log.records(allowed=False)
    assert [r.seq for r in denied] == [7, 4, 1]
    assert all(r.entry.reason and r.entry.reason.startswith("denied") for r in denied)
    assert [r.seq for r in log.records(before=4, limit=2)] == [3, 2]
    assert log.records(kind="kpi") == []
    assert [r.seq for r in log.records(user="ana", limit=1)] == [7]


def test_an_edited_record_is_named(log: AuditLog, tmp_path: Path) -> None:
    fill(log, 6)
    execute(tmp_path / "catalog.db", "UPDATE weir_audit SET row_count = 0 WHERE seq = 3")
    result = log.verify()
    assert not result.ok and result.bad_seq == 3
    assert "record 3 was altered" in str(result)


def test_an_edit_that_rehashes_the_record_is_caught_by_the_next(
    log: AuditLog, tmp_path: Path
) -> None:
    fill(log, 6)
    record = log.records(before=5, limit=1)[0]  # seq 4: a denial
    assert not record.entry.allowed
    changed = {**record.fields(), "allowed": True, "reason": None}
    execute(
        tmp_path / "catalog.db",
        f"UPDATE weir_audit SET allowed = 1, reason = NULL, hash = '{record_hash(changed)}'"
        " WHERE seq = 4",
    )
    result = log.verify()
    assert not result.ok and result.bad_seq == 4, result
    assert "record 4 was altered or replaced" in str(result)


def test_a_deleted_middle_record_is_named(log: AuditLog, tmp_path: Path) -> None:
    fill(log, 6)
    execute(tmp_path / "catalog.db", "DELETE FROM weir_audit WHERE seq = 4")
    result = log.verify()
    assert not result.ok and result.bad_seq == 4
    assert "record 4 was removed" in str(result)


def test_a_truncated_tail_is_caught_by_the_head_file(log: AuditLog, tmp_path: Path) -> None:
    fill(log, 6)
    execute(tmp_path / "catalog.db", "DELETE FROM weir_audit WHERE seq >= 5")
    result = log.verify()
    assert not result.ok and result.bad_seq == 5
    assert "records 5 to 6 removed from the end" in str(result)


def test_a_removed_head_file_is_reported(log: AuditLog) -> None:
    fill(log, 2)
    log.head_file.unlink()
    result = log.verify()
    assert not result.ok and "head file" in str(result)


def test_concurrent_appends_keep_one_chain(log: AuditLog) -> None:
    def work() -> None:
        fill(log, 15)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = log.verify()
    assert result.ok and result.records == 90, result
    assert log.head() is not None and log.head()[0] == 90  # type: ignore[index]


def test_two_logs_on_one_database_share_the_chain(log: AuditLog, tmp_path: Path) -> None:
    other = AuditLog(MetadataStore(f"sqlite:///{tmp_path / 'catalog.db'}"), log.head_file)
    threads = [
        threading.Thread(target=fill, args=(log, 10)),
        threading.Thread(target=fill, args=(other, 10)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.verify().ok and log.verify().records == 20


def test_an_empty_log_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert result.ok and result.records == 0


def test_the_audit_commands_exist() -> None:
    result = CliRunner().invoke(cli, ["audit", "verify", "--help"])
    assert result.exit_code == 0 and "Example" in result.output
