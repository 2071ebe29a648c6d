"""The metadata database and the Iceberg catalog on a real PostgreSQL server.

Each test module gets fresh databases on the server (``WEIR_TEST_POSTGRES``, by
default the local one), dropped at its end. When no server answers (or psycopg is not
installed) the tests fail under CI and skip elsewhere, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import POSTGRES, NewDatabase, land, pos_csv, pos_line, require_server, web_event
from golden.expected import DIMENSION_COLUMNS, EXPECTED, ROUND

import weir
from weir.errors import AuthError, ProjectError
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metrics.flags import DayFlags
from weir.streams.consumers.base import events_table

try:
    import psycopg
except ImportError as exc:
    require_server("psycopg", f"the PostgreSQL tests need the postgres extra (psycopg 3): {exc}")

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"


@pytest.fixture(scope="module")
def database(new_database: NewDatabase) -> str:
    """One database shared by the module's store-level tests."""
    return new_database()


def on_postgres(root: Path, url: str) -> Path:
    config = root / "weir.yml"
    config.write_text(config.read_text(encoding="utf-8") + f"\ncatalog_uri: {url}\n", "utf-8")
    return root


@pytest.fixture(scope="module")
def shop(
    new_database: NewDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[weir.Project]:
    """The example retailer on the golden dataset, its catalog and metadata on PostgreSQL, run once."""
    root = on_postgres(weir.init_project(tmp_path_factory.mktemp("pg") / "shop"), new_database())
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        # every model is built but those whose source the golden data lacks (they wait for it)
        waiting = {b.model for b in result.builds if b.reason.startswith("no data yet")}
        assert {b.status for b in result.builds if b.model not in waiting} == {"built"}
        yield project


# -- the schema -----------------------------------------------------------------------------------
def test_migrations_apply_once_and_widen_what_postgres_would_cut(
    database: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    store = MetadataStore(database)
    try:
        with store.begin() as db:
            versions = [v for (v,) in db.execute(sa.text("SELECT version FROM weir_migrations"))]
            batch_id = db.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns"
                    " WHERE table_name = 'weir_batches' AND column_name = 'batch_id'"
                )
            ).scalar_one()
        assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 7
        assert batch_id == "text"
        assert store.migrate() == []
    finally:
        store.dispose()
    MetadataStore(database).dispose()  # a second open finds everything applied

    # processes opening a new project at once: one sets the database up, none fails
    root = on_postgres(weir.init_project(tmp_path / "shop"), new_database())
    errors: list[Exception] = []

    def open_project() -> None:
        try:
            weir.Project(root).close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_project) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with weir.Project(root) as project:
        assert project.audit.records(kind="config.change") == []  # opening writes nothing
        project.audit.record_definition()
        assert len(project.audit.records(kind="config.change")) == 1
        assert project.audit.verify().ok


def test_a_database_that_does_not_exist_is_named_with_the_fix(
    database: str, tmp_path: Path
) -> None:
    missing = sa.make_url(database).set(database="weir_t_missing").render_as_string(False)
    root = on_postgres(weir.init_project(tmp_path / "shop", example=None), missing)
    with pytest.raises(ProjectError, match=r"database .*weir_t_missing.* does not exist") as caught:
        weir.Project(root)
    assert caught.value.fix is not None and "catalog_uri" in caught.value.fix


# -- a whole project ------------------------------------------------------------------------------
def test_a_project_ingests_and_builds_everything_on_postgres(shop: weir.Project) -> None:
    assert not (shop.files.state_dir / "catalog.db").exists()  # nothing went to SQLite
    batches = shop.ledger.batches()
    landed = {folder.name for folder in GOLDEN.iterdir()}
    assert {b.source for b in batches} == landed
    assert {b.status for b in batches} == {"committed"}
    assert all(b.counts.reconciles() for b in batches)
    statuses = [s for s in shop.sources.status() if s.source in landed]
    assert all(s.totals.reconciles() for s in statuses)
    counts = ", ".join(f"(SELECT count(*) FROM raw.{s.source}) AS {s.source}" for s in statuses)
    [raw] = shop.sql(f"SELECT {counts}").to_pylist()  # every record received is in raw
    assert raw == {s.source: s.totals.received for s in statuses}
    assert all(not planned.build for planned in shop.models.plan()), "a second run would rebuild"
    assert shop.audit.verify().ok


@pytest.mark.parametrize(
    "kpi", ["net_sales", "sessions", "stock_availability", "feedback_score", "gross_margin"]
)
def test_kpis_answer_as_worked_out_by_hand(shop: weir.Project, kpi: str) -> None:
    entry = next(e for e in EXPECTED if e["kpi"] == kpi)
    table = shop.kpis.answer(
        kpi,
        grain=entry["grain"],
        by=[DIMENSION_COLUMNS[b] for b in entry["by"]],
        start=date.fromisoformat(entry["from"]),
        end=date.fromisoformat(entry["to"]),
    )
    wanted = sorted({key for row in entry["rows"] for key in row})

    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, ROUND)
        return value.isoformat() if isinstance(value, date) else value

    got = [{key: plain(row.get(key)) for key in wanted} for row in table.to_pylist()]
    assert got == [{key: plain(row.get(key)) for key in wanted} for row in entry["rows"]]


def test_a_flagged_day_is_left_out_of_kpis(shop: weir.Project) -> None:
    first, second = date(2025, 1, 6), date(2025, 1, 7)
    everything = shop.kpis.answer("net_sales", start=first, end=second).to_pylist()
    shop.kpis.flag_day(first, "marts.sales_daily", "a till was counted twice")
    shop.kpis.flag_day(first, "marts.sales_daily", "two tills were counted twice")  # replaces it
    assert DayFlags(shop.store).days() == [
        (first, "marts.sales_daily", "two tills were counted twice")
    ]
    kept = shop.kpis.answer("net_sales", start=first, end=second, exclude_flagged=True).to_pylist()
    by_day = {row["period"]: row["value"] for row in kept}
    assert by_day.get(first) in (None, 0) and by_day[second] == everything[1]["value"]


def test_sql_and_time_travel_on_postgres(shop: weir.Project) -> None:
    [before] = shop.sql("SELECT count(*) AS n FROM staging.pos").to_pylist()
    first = shop.snapshots("staging.pos")[-1]
    between = datetime.now(UTC)
    land(shop.root, "pos", "pos_2025-01-20_store001.csv", pos_csv(pos_line("pg-1"), "bad"))
    [batch] = shop.sources.ingest(["pos"])
    assert (batch.counts.accepted, batch.counts.quarantined) == (1, 1)
    count = "SELECT count(*) AS n FROM staging.pos"
    assert shop.sql(count).to_pylist() == [{"n": before["n"] + 1}]
    assert shop.sql(count, as_of=between).to_pylist() == [before]
    assert shop.sql(count, snapshot=first.snapshot_id).to_pylist() == [before]
    assert shop.snapshots("staging.pos")[-1].batch_id == batch.batch_id


def test_connections_the_server_dropped_are_replaced(shop: weir.Project) -> None:
    shop.ledger.batches(), shop.lake.tables()  # both pools hold a connection
    database = shop.store.engine.url.database
    with psycopg.connect(POSTGRES, autocommit=True) as admin:  # as a restart or a failover would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
        )
    assert shop.ledger.batches() and shop.lake.tables()
    assert shop.audit.verify().ok


# -- access ---------------------------------------------------------------------------------------
def test_tokens_on_postgres(shop: weir.Project) -> None:
    tokens = shop.access.tokens()
    record, secret = tokens.create("ana", "analyst", expires="1d", note="pg")
    principal = tokens.authenticate(secret)
    assert (principal.user, principal.role) == ("ana", "analyst")
    assert [t.token_id for t in tokens.list()] == [record.token_id]
    assert tokens.revoke(record.token_id).state() == "revoked"
    with pytest.raises(AuthError, match="revoked"):
        tokens.authenticate(secret)
    kinds = [r.entry.kind for r in shop.audit.records(limit=2)]
    assert kinds == ["token.revoke", "token.create"]


def test_write_keys_on_postgres(shop: weir.Project) -> None:
    keys = shop.access.write_keys()
    created = keys.create(["web_traffic", "crm_interactions"], note="site")
    assert keys.verify(created.key) == {"web_traffic", "crm_interactions"}
    with pytest.raises(AuthError):
        keys.verify(created.key + "x")
    assert not keys.revoke(created.info.key_id).active
    with pytest.raises(AuthError, match="revoked"):
        keys.verify(created.key)
    assert [k.key_id for k in keys.list_keys()] == [created.info.key_id]


def test_stream_positions_round_trip_on_postgres(shop: weir.Project) -> None:
    # an MQTT topic may be far longer than a VARCHAR(255)
    stream = "mqtt:weir-web_traffic:" + "site/" * 80 + "#"
    events = [(json.dumps(web_event(f"pg-{i}", session_id="s9")), stream, i) for i in (1, 2)]
    first = shop.sources.ingestor.ingest_events("web_traffic", events_table(events), {stream: "2"})
    assert first.counts.accepted == 2
    assert shop.ledger.positions("mqtt:") == {stream: "2"}
    later = [(json.dumps(web_event("pg-3", session_id="s9")), stream, 3)]
    shop.sources.ingestor.ingest_events("web_traffic", events_table(later), {stream: "3"})
    assert shop.ledger.positions("mqtt:") == {stream: "3"}
    with weir.Project(shop.root) as reopened:
        assert reopened.ledger.positions() == shop.ledger.positions()
    [status] = [s for s in shop.streams.status() if s.stream == stream]
    assert (status.source, status.kind) == ("web_traffic", "mqtt")
    assert status.events_per_second > 0 and status.last_commit_at is not None


# -- the audit log ----------------------------------------------------------------------------------
APPENDER = """
import sys
from pathlib import Path
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata import MetadataStore
log = AuditLog(MetadataStore(sys.argv[1]), Path(sys.argv[2]))
for i in range(25):
    log.append(AuditEntry("query", f"SELECT {i} -- process", "ana", "analyst", ("marts.sessions",), i))
"""


def test_the_audit_chain_holds_under_concurrent_appends_and_names_an_edit(
    database: str, tmp_path: Path
) -> None:
    head = tmp_path / "audit.head"
    log = AuditLog(MetadataStore(database), head)

    def fill() -> None:
        for i in range(15):
            log.append(AuditEntry("query", f"SELECT {i}", "ana", "analyst", (), i, 1.5, i % 2 == 0))

    # threads of this process, and other processes (which only the table lock orders)
    processes = [
        subprocess.Popen([sys.executable, "-c", APPENDER, database, str(head)]) for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    while not log.records(limit=1) and time.monotonic() < deadline:
        time.sleep(0.02)  # the threads start once the processes append
    threads = [threading.Thread(target=fill) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    # what PostgreSQL would refuse as it is: a NUL in a posted query, a long unknown user
    log.append(AuditEntry("query", "SELECT '\x00'", "u" * 200, allowed=False, reason="refused"))

    result = log.verify()
    assert result.ok and result.records == 3 * 15 + 2 * 25 + 1, result
    assert log.records(allowed=False, limit=1)[0].entry.action == "SELECT '\ufffd'"

    url = sa.make_url(database).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("UPDATE weir_audit SET row_count = 99 WHERE seq = 7")
    result = log.verify()
    assert not result.ok and result.bad_seq == 7, result
    assert "record 7 was altered" in str(result)


# -- crash recovery -------------------------------------------------------------------------------
def test_a_batch_left_pending_by_a_crash_is_rolled_back(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    root = on_postgres(weir.init_project(tmp_path / "shop"), new_database())
    land(root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t0")))
    with weir.Project(root) as project:
        [first] = project.sources.ingest(["pos"])
    land(root, "pos", "pos_2025-01-02_store001.csv", pos_csv(pos_line("t1"), "bad-1"))
    crash = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, weir; weir.Project(sys.argv[1]).sources.ingest(['pos'])",
            root,
        ],
        env={**os.environ, "WEIR_CRASH_AT": "raw"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crash.returncode == 137, crash.stderr

    with weir.Project(root) as project:
        [pending] = project.ledger.pending()
        # the crash came after the raw table's commit: its records are there until rolled back
        assert project.sql("SELECT count(*) AS n FROM raw.pos").to_pylist() == [{"n": 3}]
        assert project.sources.recover() == [pending]
        assert project.ledger.batch(pending).status == "aborted"  # type: ignore[union-attr]
        assert project.ledger.pending() == []
        raw = project.sql("SELECT transaction_id, _batch_id FROM raw.pos").to_pylist()
        assert raw == [{"transaction_id": "t0", "_batch_id": first.batch_id}]
        [again] = project.sources.ingest(["pos"])
        assert (again.counts.accepted, again.counts.quarantined) == (1, 1)
