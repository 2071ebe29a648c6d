"""The audit log: every governed action recorded, in one hash chain that names any tampering."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from conftest import land, pos_csv, pos_line
from served import Served, build_served

import weir
from weir.cli.main import cli
from weir.errors import AccessDenied, AuthError, NotFoundError, QueryError
from weir.governance.queries import QueryResult
from weir.metadata import MetadataStore, audit
from weir.metadata.audit import GENESIS, AuditEntry, AuditLog, AuditRecord, record_hash
from weir.metadata.chain import record_mac


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


def audit_key(log: AuditLog) -> bytes:
    found = log.keys.find("audit")
    assert found is not None
    return found[0]


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
        assert record_mac(audit_key(log), later.fields()) == later.hash
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


def test_an_edit_that_rehashes_the_record_with_sha256_is_named(
    log: AuditLog, tmp_path: Path
) -> None:
    """Someone who can write the database, without the master key, recomputes a plain hash."""
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
    assert "record 4 was altered (its signature does not match)" in str(result)


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


def test_a_chain_rewritten_from_an_edit_onwards_is_caught_by_the_head_file(
    log: AuditLog, tmp_path: Path
) -> None:
    """Even with the audit key (the master key's holder), a rewrite shows at the head."""
    fill(log, 6)
    key = audit_key(log)
    prev = log.records(before=3, limit=1)[0].hash
    for record in reversed(log.records(before=7, limit=4)):  # seq 3 to 6, oldest first
        fields = {**record.fields(), "prev_hash": prev}
        if record.seq == 3:
            fields["user"] = "nobody"
        prev = record_mac(key, fields)
        execute(
            tmp_path / "catalog.db",
            f"UPDATE weir_audit SET user_name = '{fields['user']}',"
            f" prev_hash = '{fields['prev_hash']}', hash = '{prev}' WHERE seq = {record.seq}",
        )
    result = log.verify()
    assert not result.ok and result.bad_seq == 6, result
    assert "record 6 was replaced (the head file differs)" in str(result)


def test_a_head_file_behind_the_log_still_checks_its_record(log: AuditLog) -> None:
    fill(log, 4)
    behind = log.head_file.read_text()
    fill(log, 2)
    log.head_file.write_text(behind)  # a crash between a commit and the head's update
    assert log.verify().ok
    log.head_file.write_text(behind.replace(behind[-10:-2], "00000000"))
    result = log.verify()
    assert not result.ok and result.bad_seq == 4, result


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


def test_appends_queued_while_one_commits_go_in_one_transaction(log: AuditLog) -> None:
    log.append(AuditEntry("query", "SELECT 0", "ana"))  # the audit key and the tables exist
    commits: list[int] = []
    sa.event.listen(log.store.engine, "commit", lambda _con: commits.append(1))
    returned: dict[str, int] = {}

    def append(i: int) -> None:
        returned[f"SELECT {i}"] = log.append(AuditEntry("query", f"SELECT {i}", "ana")).seq

    with audit._APPEND_LOCK:  # a commit in progress: the five queue behind it
        threads = [threading.Thread(target=append, args=(i,)) for i in range(1, 6)]
        for thread in threads:
            thread.start()
        while len(log._waiting) < 5:
            time.sleep(0.001)
    for thread in threads:
        thread.join()
    assert len(commits) == 1  # five records, one transaction (one fsync)
    assert sorted(returned.values()) == [2, 3, 4, 5, 6]
    stored = {r.seq: r.entry.action for r in log.records(limit=10)}
    assert all(stored[seq] == action for action, seq in returned.items())
    assert log.verify().ok and log.head() == (6, log.records(limit=1)[0].hash)


def test_a_failed_group_commit_fails_every_append_in_it_and_writes_none(log: AuditLog) -> None:
    log.append(AuditEntry("query", "SELECT 0", "ana"))
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            log.append(AuditEntry("query", f"SELECT {i}", "ana"))
        except sa.exc.OperationalError as exc:
            errors.append(exc)

    execute(log.store.engine.url.database, "DROP TABLE weir_audit_literals")  # type: ignore[arg-type]
    with audit._APPEND_LOCK:
        threads = [threading.Thread(target=append, args=(i,)) for i in range(1, 4)]
        for thread in threads:
            thread.start()
        while len(log._waiting) < 3:
            time.sleep(0.001)
    for thread in threads:
        thread.join()
    assert len(errors) == 3
    with sqlite3.connect(log.store.engine.url.database) as con:  # type: ignore[arg-type]
        assert con.execute("SELECT seq FROM weir_audit").fetchall() == [(1,)]  # rolled back


CRASH_APPENDER = """
import sys, threading
from pathlib import Path
from weir.metadata import MetadataStore, audit
from weir.metadata.audit import AuditEntry, AuditLog

folder = Path(sys.argv[1])
log = AuditLog(MetadataStore(f"sqlite:///{folder / 'catalog.db'}"), folder / "audit.head")
lock = threading.Lock()

def work(t):
    for i in range(100000):
        record = log.append(AuditEntry("query", f"SELECT {t}, {i}", "ana"))
        with lock:  # the caller's answer: this record was committed
            print(record.seq, record.hash, flush=True)

for t in range(4):
    threading.Thread(target=work, args=(t,)).start()
"""


def test_every_answered_append_survives_a_kill(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CRASH_APPENDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    answered = [child.stdout.readline() for _ in range(200)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    answered += child.stdout.read().splitlines()
    log = AuditLog(MetadataStore(f"sqlite:///{tmp_path / 'catalog.db'}"), tmp_path / "audit.head")
    stored = {r.seq: r.hash for r in log.records(limit=1_000_000)}
    for line in answered:
        if line.strip():
            seq, hashed = line.split()
            assert stored[int(seq)] == hashed
    assert log.verify().ok


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


# -- what the project records ---------------------------------------------------------------
ROLES = """
roles:
  analyst:
    grants: [staging.pos]
  admin:
    grants: ["*"]
    admin: true
users:
  ana: {roles: [analyst]}
  root: {roles: [admin]}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = weir.init_project(tmp_path / "shop", example=None)
    with (root / "weir.yml").open("a", encoding="utf-8") as config:
        config.write(ROLES)
    return root


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


def cli_run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--project", str(root), *args])


def test_changes_to_the_definition_are_recorded_before_the_next_record(small: Path) -> None:
    with weir.Project(small) as project:
        assert project.audit.records(kind="config.change") == []  # opening writes nothing
        project.sources.ingest()  # the first record of the log: the definition comes first
        first = project.audit.records(kind="config.change")
        assert len(first) == 1 and first[0].entry.action == "added: weir.yml"
        assert project.audit.records(limit=1)[0].entry.kind == "ingest"
    with weir.Project(small) as project:
        project.sources.ingest()
        assert len(project.audit.records(kind="config.change")) == 1  # unchanged
    (small / "weir.yml").write_text((small / "weir.yml").read_text() + "\n# a comment\n")
    (small / "sources" / "extra.yml").parent.mkdir(exist_ok=True)
    (small / "metrics").mkdir(exist_ok=True)
    (small / "metrics" / "none.yml").write_text("kpis: []\n")
    with weir.Project(small) as project:
        project.audit.record_definition()
        latest = project.audit.records(kind="config.change")
    assert len(latest) == 2
    assert latest[0].entry.action == "added: metrics/none.yml; changed: weir.yml"
    assert latest[0].entry.detail is not None and latest[0].entry.detail["changed"] == ["weir.yml"]


def test_a_run_is_recorded_with_what_it_built(shop: Served) -> None:
    with shop.project() as project:
        run = project.audit.records(kind="run")[-1]  # the first run
    assert run.entry.allowed and run.entry.action == "run (all)"
    assert "marts.sales_daily" in run.entry.datasets and run.entry.rows
    assert run.entry.duration_ms and run.entry.detail and run.entry.detail["run_id"]


def test_an_ingest_is_recorded_with_each_batch(shop: Served) -> None:
    with shop.project() as project:
        ingest = project.audit.records(kind="ingest")[-1]  # the run's ingest
    assert ingest.entry.allowed and ingest.entry.action.startswith(
        "ingest accounting_pnl crm_interactions"
    )
    assert "staging.pos" in ingest.entry.datasets and ingest.entry.rows
    assert ingest.entry.detail is not None
    pos = ingest.entry.detail["batches"]["pos"]
    assert pos["received"] == pos["accepted"] + pos["quarantined"] + pos["duplicates"] > 0


def test_queries_are_recorded_allowed_or_denied(shop: Served) -> None:
    with shop.project() as project:
        result = project.access.query("SELECT * FROM marts.finance_daily", "fay", limit=2)
        with pytest.raises(AccessDenied):
            project.access.query("SELECT * FROM staging.customers", "fay")
        with pytest.raises(QueryError):
            project.access.query("SELECT missing FROM marts.finance_daily", "fay")
        with pytest.raises(AuthError):
            project.access.query("SELECT 1", "nobody")
        failed, denied, allowed = project.audit.records(kind="query", user="fay", limit=3)
        unknown = project.audit.records(kind="query", user="nobody", limit=1)[0]
        assert project.audit.verify().ok
    assert allowed.entry.allowed and allowed.entry.rows == result.table.num_rows == 2
    assert allowed.entry.datasets == ("marts.finance_daily",) and allowed.entry.role == "finance"
    assert allowed.entry.reason == "truncated at the row limit"
    assert allowed.entry.duration_ms is not None and allowed.entry.duration_ms > 0
    assert not denied.entry.allowed and denied.entry.datasets == ("staging.customers",)
    assert denied.entry.reason == "denied: no lake table staging.customers you may read"
    assert (
        failed.entry.allowed and failed.entry.reason and failed.entry.reason.startswith("failed:")
    )
    assert not unknown.entry.allowed and "unknown user" in (unknown.entry.reason or "")


def test_an_answer_leaves_only_with_its_record_committed(shop: Served) -> None:
    sql = "SELECT count(*) AS n FROM marts.finance_daily"
    with shop.project() as project:
        fay = project.access.policy().principal("fay", "finance")

        def shape(result: QueryResult) -> tuple[int, int]:
            # made while the record commits; the record is committed when the answer is back
            return result.table.column("n")[0].as_py(), result.table.num_rows

        count, rows = project.access.answer(sql, fay, shape)
        answered = project.audit.records(kind="query", user="fay", limit=1)[0]

        def broken(_result: QueryResult) -> None:
            raise QueryError("the result cannot be written as JSON", "ask for Arrow")

        with pytest.raises(QueryError, match="cannot be written"):
            project.access.answer(sql, fay, broken)
        unanswered = project.audit.records(kind="query", user="fay", limit=1)[0]
        plain = project.access.query(sql, fay).table.column("n")[0].as_py()
        assert project.audit.verify().ok
    assert count == plain and rows == 1
    assert answered.entry.action == sql and answered.entry.allowed and answered.entry.rows == 1
    assert unanswered.seq == answered.seq + 1 and unanswered.entry.action == sql  # still recorded


def test_no_answer_leaves_when_its_record_cannot_be_written(shop: Served, tmp_path: Path) -> None:
    sql = "SELECT count(*) AS n FROM marts.finance_daily"
    with shop.project() as project:
        fay = project.access.policy().principal("fay", "finance")
        shaped: list[object] = []
        before = project.audit.records(limit=1)[0].seq
        project.audit._key()  # the key is read before the database goes away

        def failing(entry: AuditEntry) -> AuditRecord:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

        project.audit.append = failing  # type: ignore[method-assign]
        with pytest.raises(sa.exc.OperationalError):
            project.access.answer(sql, fay, shaped.append)
        del project.audit.append
        assert project.audit.records(limit=1)[0].seq == before
    assert len(shaped) == 1  # made, but never handed back


def test_kpis_and_tokens_are_recorded(shop: Served) -> None:
    with shop.project() as project:
        principal = project.access.policy().principal("nina")
        project.access.kpi(principal, "net_sales", "week", ["region"])
        kpi = project.audit.records(kind="kpi", user="nina", limit=1)[0]
        for hidden_or_missing in ("revenue", "no_such_kpi"):
            with pytest.raises(NotFoundError):
                project.access.kpi(principal, hidden_or_missing)
        missing, hidden = project.audit.records(kind="kpi", user="nina", limit=2)
        created = project.audit.records(kind="token.create")
    assert kpi.entry.action == "kpi net_sales grain=week by=region"
    assert kpi.entry.datasets == ("marts.sales_daily",) and kpi.entry.allowed
    assert not hidden.entry.allowed and hidden.entry.datasets == ("marts.finance_daily",)
    assert hidden.entry.reason == "denied: role 'sales_north' may not read marts.finance_daily"
    assert missing.entry.allowed and missing.entry.reason == "failed: no KPI named no_such_kpi"
    assert {r.entry.detail["for_user"] for r in created if r.entry.detail} >= {"sam", "nina", "ada"}


def test_sql_as_a_user_goes_through_the_gateway_and_the_audit(shop: Served) -> None:
    ok = cli_run(
        shop.root,
        "sql",
        "SELECT count(*) AS n FROM marts.sales_daily",
        "--as",
        "nina",
        "--format",
        "json",
    )
    assert ok.exit_code == 0, ok.output
    refused = cli_run(shop.root, "sql", "SELECT * FROM marts.finance_daily", "--as", "nina")
    assert refused.exit_code == 1
    assert "no lake table marts.finance_daily you may read" in refused.stderr
    wrong_role = cli_run(shop.root, "sql", "SELECT 1", "--as", "nina", "--role", "admin")
    assert wrong_role.exit_code == 1 and "does not hold role" in wrong_role.stderr
    with shop.project() as project:
        denied, allowed = project.audit.records(kind="query", user="nina", limit=3)[1:3]
    assert not denied.entry.allowed and allowed.entry.allowed


def test_audit_verify_names_the_record_edited_removed_or_cut(small: Path) -> None:
    with weir.Project(small) as project:
        tokens = project.access.tokens()
        for _ in range(3):
            record, _secret = tokens.create("ana")
            tokens.revoke(record.token_id)
        newest = project.audit.verify().head_seq
    assert newest == 7
    passed = cli_run(small, "audit", "verify")
    assert passed.exit_code == 0 and "intact: 7 records" in passed.output
    listed = cli_run(small, "audit", "list", "--kind", "token.revoke", "--format", "json")
    assert [r["seq"] for r in json.loads(listed.stdout)] == [7, 5, 3]
    database = small / ".weir" / "catalog.db"

    def verify_after(*statements: str) -> str:
        for sql in statements:
            execute(database, sql)
        result = cli_run(small, "audit", "verify")
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
        return lines[0]

    with sqlite3.connect(database) as con:
        action = con.execute("SELECT action FROM weir_audit WHERE seq = 4").fetchone()[0]
        third = con.execute("SELECT * FROM weir_audit WHERE seq = 3").fetchone()
    assert "record 4 was altered" in verify_after(
        "UPDATE weir_audit SET action = 'nothing to see' WHERE seq = 4"
    )
    execute(database, f"UPDATE weir_audit SET action = '{action}' WHERE seq = 4")
    assert "record 3 was removed" in verify_after("DELETE FROM weir_audit WHERE seq = 3")
    with sqlite3.connect(database) as con:
        con.execute(f"INSERT INTO weir_audit VALUES ({', '.join('?' * len(third))})", third)
    assert cli_run(small, "audit", "verify").exit_code == 0  # put back as it was: intact
    assert "records 6 to 7 removed from the end" in verify_after(
        "DELETE FROM weir_audit WHERE seq > 5"
    )


def test_weir_never_updates_or_deletes_audit_records(project_root: Path) -> None:
    """Every kind of governed action, on a database that refuses to change a written record."""
    with weir.Project(project_root) as project:
        with project.store.begin() as db:
            for verb in ("UPDATE", "DELETE"):
                db.execute(
                    sa.text(
                        f"CREATE TRIGGER weir_audit_no_{verb.lower()} BEFORE {verb} ON weir_audit"
                        " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
                    )
                )
        project.audit.record_definition()
        first = project.audit.records(limit=1000)
        land(project_root, "pos", "day1.csv", pos_csv(pos_line("t1"), pos_line("t2", quantity=2)))
        project.run(["warehouse.dim_date"])  # an ingest and a run
        record, _ = project.access.tokens().create("sam", "sales", expires="1d")
        project.access.tokens().revoke(record.token_id)
        project.access.query("SELECT count(*) AS n FROM staging.pos", "ada")
        with pytest.raises(AccessDenied):
            project.access.query("SELECT * FROM staging.customers", "sam")
        with pytest.raises(NotFoundError):
            project.access.kpi(project.access.policy().principal("nina"), "no_such_kpi")
        assert project.audit.verify().ok
    (project_root / "weir.yml").write_text(
        (project_root / "weir.yml").read_text(encoding="utf-8") + "\n# edited\n", "utf-8"
    )
    with weir.Project(project_root) as project:
        project.audit.record_definition()  # the change
        after = project.audit.records(limit=1000)
        assert project.audit.verify().ok
    assert {r.entry.kind for r in after} == {
        "config.change", "ingest", "batch", "run", "token.create", "token.revoke", "query", "kpi",
    }  # fmt: skip
    assert [r.seq for r in after] == list(range(len(after), 0, -1))  # none removed
    assert [(r.seq, r.hash) for r in after[-len(first) :]] == [(r.seq, r.hash) for r in first]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("CREATE TABLE x AS SELECT 1", "denied: only read queries are allowed, not CREATE"),
        ("DROP TABLE marts.sessions", "denied: only read queries are allowed, not DROP"),
        (
            "SELECT * FROM read_csv('/etc/passwd')",
            "denied: function read_csv() is not allowed",
        ),
        ("SELECT * FROM marts.finance_daily", "denied: no lake table marts.finance_daily"),
        ("SELEC 1 FROM", "denied: "),
    ],
)
def test_what_the_gateway_refuses_is_recorded_as_denied(
    shop: Served, sql: str, reason: str
) -> None:
    with shop.project() as project:
        with pytest.raises((AccessDenied, QueryError)):
            project.access.query(sql, "mia")
        record = project.audit.records(kind="query", user="mia", limit=1)[0]
    assert record.entry.action == sql
    assert not record.entry.allowed, record.entry
    assert record.entry.reason is not None and record.entry.reason.startswith(reason)
    assert record.entry.rows is None


def test_a_write_refused_through_the_cli_is_a_denial_on_the_record(shop: Served) -> None:
    refused = cli_run(shop.root, "sql", "CREATE TABLE x AS SELECT 1", "--as", "mia")
    assert refused.exit_code == 1
    assert "only read queries are allowed, not CREATE" in refused.stderr
    with shop.project() as project:
        record = project.audit.records(kind="query", user="mia", limit=1)[0]
    assert record.entry.action == "CREATE TABLE x AS SELECT 1"
    assert not record.entry.allowed
    assert record.entry.reason == "denied: only read queries are allowed, not CREATE"
    # an allowed query that fails while it runs stays a failure
    failed = cli_run(shop.root, "sql", "SELECT nope FROM marts.sessions", "--as", "mia")
    assert failed.exit_code == 1
    with shop.project() as project:
        record = project.audit.records(kind="query", user="mia", limit=1)[0]
    assert record.entry.allowed and record.entry.datasets == ("marts.sessions",)
    assert record.entry.reason is not None and record.entry.reason.startswith("failed: ")
