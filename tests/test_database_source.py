"""Database tables as a source, on real SQLite, PostgreSQL and MariaDB servers.

Each test gets an empty database on its server and a project whose source
``purchase_orders`` reads the table ``purchase_orders`` from it. Times are
naive in the database and read as UTC.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import assert_counts, bytes_outside, rows, scalar

import weir
from weir.cli.main import cli
from weir.errors import ProjectError, WeirError
from weir.ingest.database import read_chunks
from weir.ingest.probe import DiscoverOptions, discover, save_proposal

T0 = datetime(2026, 1, 1, 10, 0, 0)
EPOCH_T0 = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC).timestamp()

SOURCE = """
name: purchase_orders
format: database
database:
  url: "{url}"
  {what}
  mode: incremental
  cursor: updated_at
{extra}
key: [po_id, updated_at]
time_column: updated_at
columns:
  - {{name: po_id, type: int, nullable: false}}
  - {{name: supplier_id, type: int, min: 1}}
  - {{name: quantity, type: int, nullable: false, min: 1}}
  - {{name: updated_at, type: epoch, nullable: false}}
"""

Row = tuple[int, int, str, datetime]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], str]:
    """Gives the URL of a new empty database on the server under test."""
    if request.param == "postgresql":
        return request.getfixturevalue("new_database")  # type: ignore[no-any-return]
    if request.param == "mariadb":
        return request.getfixturevalue("new_mariadb")  # type: ignore[no-any-return]
    folder = tmp_path_factory.mktemp("sqlite")

    def create() -> str:
        return f"sqlite:///{folder / f'shop_{len(list(folder.iterdir()))}.db'}"

    return create


class Shop:
    """The shop's OLTP database: a purchase_orders table to insert into and update."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url)
        metadata = sa.MetaData()
        self.table = sa.Table(
            "purchase_orders",
            metadata,
            sa.Column("po_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("supplier_id", sa.Integer),
            sa.Column("quantity", sa.String(20)),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )
        metadata.create_all(self.engine)

    def insert(self, *records: Row) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.table.insert(),
                [
                    {"po_id": i, "supplier_id": s, "quantity": q, "updated_at": u}
                    for i, s, q, u in records
                ],
            )

    def update(self, po_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.po_id == po_id).values(**values))


@pytest.fixture
def shop(server: Callable[[], str]) -> Iterator[Shop]:
    made = Shop(server())
    yield made
    made.engine.dispose()


def make_project(
    tmp_path: Path, url: str, extra: str = "", what: str = "table: purchase_orders"
) -> Path:
    root = weir.init_project(tmp_path / "project", None)
    (root / "sources" / "purchase_orders.yml").write_text(
        SOURCE.format(url=url, extra=extra, what=what), encoding="utf-8"
    )
    return root


def ingest(root: Path) -> Any:
    with weir.Project(root) as project:
        [result] = project.sources.ingest(["purchase_orders"])
        return result


def staged(root: Path) -> list[tuple[int, int, float]]:
    """(po_id, quantity, updated_at seconds after T0) of every staged row."""
    with weir.Project(root) as project:
        found = rows(
            project,
            "SELECT po_id, quantity, epoch(updated_at) AS at FROM staging.purchase_orders",
        )
    return sorted((r["po_id"], r["quantity"], r["at"] - EPOCH_T0) for r in found)


def test_full_then_incremental_extract_and_a_rerun_repeats_nothing(
    shop: Shop, tmp_path: Path
) -> None:
    hour = timedelta(hours=1)
    shop.insert(
        (1, 10, "5", T0),
        (2, 11, "abc", T0 + hour),  # quantity is not a number
        (3, 12, "7", T0 + 2 * hour),
        (4, 0, "2", T0 + 3 * hour),  # supplier_id below its minimum of 1
    )
    root = make_project(tmp_path, shop.url)

    # the first extract reads the whole table: 4 received = 2 accepted + 2 quarantined
    assert_counts(ingest(root), received=4, accepted=2, quarantined=2, duplicates=0)
    assert staged(root) == [(1, 5, 0.0), (3, 7, 7200.0)]
    with weir.Project(root) as project:
        held = rows(
            project,
            "SELECT po_id, _reasons, _source_file, _offset FROM quarantine.purchase_orders "
            "ORDER BY po_id",
        )
    # the reason names the column and the value; the record keeps its key; the file names
    # the table it was extracted from, and the offset the row's place in the extract
    assert [(r["po_id"], r["_reasons"], r["_offset"]) for r in held] == [
        ("2", ["quantity: 'abc' is not an int"], 2),
        ("4", ["supplier_id: 0 is below the minimum 1"], 4),
    ]
    assert all(
        Path(r["_source_file"]).name.startswith("purchase_orders_")
        and "extracts/purchase_orders/" in r["_source_file"]
        for r in held
    )

    # nothing changed: a rerun reads no row and makes no batch
    assert ingest(root).batch_id is None
    with weir.Project(root) as project:
        # the cursor is stored with the batches, and the source is not listed as a stream
        assert project.streams.status() == []
        [status] = project.sources.status()
        assert (status.source, status.format, status.totals.received) == (
            "purchase_orders",
            "database",
            4,
        )

    # an update (a new version of po 1) and an insert: the two rows after the cursor
    shop.update(1, quantity="6", updated_at=T0 + 4 * hour)
    shop.insert((5, 13, "3", T0 + 5 * hour))
    assert_counts(ingest(root), received=2, accepted=2, quarantined=0, duplicates=0)
    assert staged(root) == [(1, 5, 0.0), (1, 6, 14400.0), (3, 7, 7200.0), (5, 3, 18000.0)]
    assert ingest(root).batch_id is None


def test_a_late_committed_row_within_the_lookback_is_picked_up(shop: Shop, tmp_path: Path) -> None:
    minute = timedelta(minutes=1)
    shop.insert((1, 10, "1", T0), (2, 10, "2", T0 + 120 * minute))
    root = make_project(tmp_path, shop.url, extra="  lookback: 1h")
    assert_counts(ingest(root), received=2, accepted=2, quarantined=0, duplicates=0)
    # the cursor is now T0+120m. A transaction that began earlier commits a row stamped
    # T0+90m, and a new row comes at T0+180m. The next extract reads after T0+120m-1h =
    # T0+60m: po 2 again (a duplicate by key), the late po 3 and po 4.
    shop.insert((3, 10, "3", T0 + 90 * minute), (4, 10, "4", T0 + 180 * minute))
    assert_counts(ingest(root), received=3, accepted=2, quarantined=0, duplicates=1)
    # a row later than the lookback allows (T0+100m, cursor T0+180m, window from T0+120m)
    # is not read: the lookback bounds how late a commit may be
    shop.insert((5, 10, "5", T0 + 100 * minute))
    assert_counts(ingest(root), received=1, accepted=0, quarantined=0, duplicates=1)
    assert [po for po, _, _ in staged(root)] == [1, 2, 3, 4]


def test_large_table_is_read_in_chunks_of_the_configured_size(shop: Shop, tmp_path: Path) -> None:
    shop.insert(*[(i, 1, "1", T0 + timedelta(seconds=i)) for i in range(1, 51)])
    root = make_project(tmp_path, shop.url, extra="  chunk_size: 7")
    with weir.Project(root) as project:
        source = project.files.source("purchase_orders")
    sizes = [len(chunk.records) for chunk in read_chunks(source)]
    assert sizes == [7] * 7 + [1]  # 50 rows: seven full chunks of 7, then 1
    assert_counts(ingest(root), received=50, accepted=50, quarantined=0, duplicates=0)


def test_a_query_source_and_its_columns_checked(shop: Shop, tmp_path: Path) -> None:
    shop.insert((1, 10, "1", T0), (2, 12, "2", T0), (3, 10, "3", T0))
    query = "query: SELECT po_id, supplier_id, quantity, updated_at FROM purchase_orders WHERE supplier_id = 10"
    root = make_project(tmp_path, shop.url, what=query)
    assert_counts(ingest(root), received=2, accepted=2, quarantined=0, duplicates=0)
    wrong = (
        "query: SELECT po_id, supplier_id, quantity, updated_at, 1 AS extra FROM purchase_orders"
    )
    (root / "sources" / "purchase_orders.yml").write_text(
        SOURCE.format(url=shop.url, extra="", what=wrong), encoding="utf-8"
    )
    with pytest.raises(WeirError, match="returns extra, not in the contract"):
        ingest(root)


def test_a_missing_environment_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEIR_T_SHOP_PASSWORD", raising=False)
    url = "postgresql+psycopg://weir:${WEIR_T_SHOP_PASSWORD}@127.0.0.1:5432/shop"
    root = make_project(tmp_path, url)
    with pytest.raises(WeirError) as caught:
        ingest(root)
    assert "environment variable WEIR_T_SHOP_PASSWORD is not set" in caught.value.what
    assert "export WEIR_T_SHOP_PASSWORD" in (caught.value.fix or "")
    with weir.Project(root) as project:
        assert project.ingestor.ledger.batches("purchase_orders") == []


def test_the_secret_comes_from_the_environment(
    server: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sa.make_url(server())
    if url.drivername.startswith("sqlite"):
        monkeypatch.setenv("WEIR_T_SHOP_PATH", str(url.database))
        written = "sqlite:///${WEIR_T_SHOP_PATH}"
    else:
        # the test servers trust their users: any password is accepted, as long as one is sent
        monkeypatch.setenv("WEIR_T_SHOP_HOST", str(url.host))
        written = url.set(host="${WEIR_T_SHOP_HOST}").render_as_string(hide_password=False)
        written = written.replace("%7B", "{").replace("%7D", "}")
    Shop(url.render_as_string(hide_password=False)).insert((1, 10, "1", T0))
    root = make_project(tmp_path, written)
    assert_counts(ingest(root), received=1, accepted=1, quarantined=0, duplicates=0)


def test_a_password_in_the_project_files_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path, "postgresql+psycopg://weir:s3cret-Value@db/shop")
    with pytest.raises(ProjectError) as caught:
        weir.Project(root)
    message = str(caught.value)
    assert "holds a password" in message and "${VAR}" in message
    assert "s3cret-Value" not in message


ENTITY = """
name: suppliers
kind: entity
format: database
database: {{url: "{url}", table: purchase_orders}}
key: [po_id]
columns:
  - {{name: po_id, type: int, nullable: false}}
  - {{name: supplier_id, type: int}}
  - {{name: quantity, type: int}}
  - {{name: updated_at, type: epoch}}
"""

DIM = """/*
kind: scd2
unique_key: [po_id]
valid_from: valid_from
*/
SELECT po_id, quantity, _extract_date AS valid_from FROM staging.suppliers
"""


def test_a_row_deleted_between_full_extracts_closes_its_version(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = weir.init_project(tmp_path / "project", None)
    (root / "sources" / "suppliers.yml").write_text(ENTITY.format(url=shop.url), encoding="utf-8")
    (root / "models" / "warehouse").mkdir(parents=True)
    (root / "models" / "warehouse" / "dim_po.sql").write_text(DIM, encoding="utf-8")
    shop.insert((1, 10, "5", T0), (2, 11, "6", T0), (3, 12, "7", T0))
    day = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    with weir.Project(root) as project:
        for offset in range(2):
            monkeypatch.setattr(
                "weir.ingest.database._now", lambda o=offset: day + timedelta(days=o)
            )
            [result] = project.sources.ingest(["suppliers"])
            assert_counts(
                result, received=3 - offset, accepted=3 - offset, quarantined=0, duplicates=0
            )
            # the next day: po 2 is deleted, po 3 changes
            shop.update(3, quantity="8")
            with shop.engine.begin() as conn:
                conn.execute(shop.table.delete().where(shop.table.c.po_id == 2))
        project.run()
        versions = rows(
            project,
            "SELECT po_id, quantity, valid_from::VARCHAR AS f, valid_to::VARCHAR AS t "
            "FROM warehouse.dim_po ORDER BY 1, 3",
        )
    assert [tuple(v.values()) for v in versions] == [
        (1, 5, "2026-03-01", None),
        (2, 6, "2026-03-01", "2026-03-02"),  # gone from the extract of 2026-03-02: closed
        (3, 7, "2026-03-01", "2026-03-02"),
        (3, 8, "2026-03-02", None),
    ]


DELETES = """
name: purchase_orders
format: database
database:
  url: "{url}"
  table: purchase_orders
  mode: incremental
  cursor: updated_at
  deletes: {{flag: deleted, every: 1d}}
key: [po_id, updated_at]
columns:
  - {{name: po_id, type: int, nullable: false}}
  - {{name: supplier_id, type: int, nullable: false}}
  - {{name: quantity, type: int, nullable: false}}
  - {{name: updated_at, type: epoch, nullable: false}}
  - {{name: deleted, type: bool, nullable: false}}
"""


def test_a_deleted_row_becomes_a_tombstone(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = weir.init_project(tmp_path / "project", None)
    (root / "sources" / "purchase_orders.yml").write_text(
        DELETES.format(url=shop.url), encoding="utf-8"
    )
    shop.insert((1, 10, "5", T0), (2, 11, "6", T0), (3, 12, "7", T0))
    day = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

    def at(moment: datetime) -> None:
        monkeypatch.setattr("weir.ingest.database._now", lambda: moment)

    at(day)  # the first check runs with the first extract: nothing staged, nothing gone
    assert_counts(ingest(root), received=3, accepted=3, quarantined=0, duplicates=0)
    with shop.engine.begin() as conn:
        conn.execute(shop.table.delete().where(shop.table.c.po_id == 2))
    shop.insert((4, 13, "8", T0 + timedelta(hours=1)))
    at(day + timedelta(hours=1))  # within a day of the last check: no comparison yet
    assert_counts(ingest(root), received=1, accepted=1, quarantined=0, duplicates=0)
    at(day + timedelta(days=1))  # due: po 2 is gone from the table and gets a tombstone
    assert_counts(ingest(root), received=1, accepted=1, quarantined=0, duplicates=0)
    at(day + timedelta(days=2))  # due again: po 2 already has its tombstone, nothing new
    assert ingest(root).batch_id is None
    with weir.Project(root) as project:
        versions = rows(
            project,
            "SELECT po_id, supplier_id, quantity, epoch(updated_at) AS at, deleted "
            "FROM staging.purchase_orders ORDER BY po_id, updated_at",
        )
        current = rows(
            project,
            "SELECT po_id FROM (SELECT * EXCLUDE (deleted) FROM staging.purchase_orders "
            "QUALIFY row_number() OVER (PARTITION BY po_id ORDER BY updated_at DESC) = 1 "
            "AND NOT deleted) ORDER BY po_id",
        )
    assert [r["po_id"] for r in current] == [1, 3, 4]  # the current state leaves po 2 out
    tombstone_at = (day + timedelta(days=1)).timestamp()
    assert [tuple(v.values()) for v in versions] == [
        (1, 10, 5, EPOCH_T0, False),
        (2, 11, 6, EPOCH_T0, False),
        (2, 11, 6, tombstone_at, True),  # the last version again, stamped and flagged
        (3, 12, 7, EPOCH_T0, False),
        (4, 13, 8, EPOCH_T0 + 3600, False),
    ]


def test_sources_test_shows_a_checked_sample_and_stores_nothing(shop: Shop, tmp_path: Path) -> None:
    shop.insert((1, 10, "5", T0), (2, 11, "abc", T0 + timedelta(hours=1)))
    root = make_project(tmp_path, shop.url)
    with weir.Project(root) as project:
        probe, sample = project.sources.test("purchase_orders", limit=5)
        assert "table purchase_orders at " in probe.reached
        assert probe.reads == "every row, in updated_at order (no cursor stored yet)"
        assert [(r["po_id"], r["quantity"], r["_reasons"]) for r in sample.to_pylist()] == [
            ("1", "5", []),
            ("2", "abc", ["quantity: 'abc' is not an int"]),
        ]
        # nothing stored: no batch, no lake table, no landed extract
        assert project.ingestor.ledger.batches("purchase_orders") == []
        assert not project.lake.exists("raw", "purchase_orders")
    assert not list((root / ".weir").glob("extracts/purchase_orders/*"))
    # after an ingest, a test shows what the next extract would read: only the newer rows
    ingest(root)
    shop.insert((3, 12, "7", T0 + timedelta(hours=2)))
    with weir.Project(root) as project:
        probe, sample = project.sources.test("purchase_orders", limit=5)
    assert probe.reads.startswith("the rows with updated_at after 2026-01-01")
    assert [r["po_id"] for r in sample.to_pylist()] == ["3"]


def test_discover_proposes_a_contract_that_ingests(shop: Shop, tmp_path: Path) -> None:
    shop.insert((1, 10, "5", T0), (2, 11, "6", T0))
    proposal = discover(shop.url, DiscoverOptions(table="purchase_orders"))
    assert proposal.name == "purchase_orders"
    lines = proposal.text.splitlines()
    assert lines[lines.index("database:") + 2 :][:4] == [
        '  table: "purchase_orders"',
        "  mode: incremental",
        "  cursor: updated_at",
        "  lookback: 15m",
    ]
    assert lines[lines.index("columns:") :] == [
        "columns:",
        "  - {name: po_id, type: int, nullable: false}",
        "  - {name: supplier_id, type: int}",
        "  - {name: quantity, type: string}",
        "  - {name: updated_at, type: epoch, nullable: false}",
    ]
    assert "key: [po_id, updated_at]" in lines
    root = weir.init_project(tmp_path / "project", None)
    save_proposal(root, proposal)
    with pytest.raises(WeirError, match="already exists"):
        save_proposal(root, proposal)
    assert_counts(ingest(root), received=2, accepted=2, quarantined=0, duplicates=0)


@pytest.mark.parametrize("server", ["postgresql"], indirect=True)
def test_discover_never_writes_a_password(shop: Shop) -> None:
    url = sa.make_url(shop.url).set(password="pw-in-clear")  # the server trusts its users
    proposal = discover(url.render_as_string(hide_password=False), DiscoverOptions(name="po"))
    assert "pw-in-clear" not in proposal.text
    assert ":${PO_PASSWORD}@" in proposal.text
    assert any("set PO_PASSWORD in the environment" in note for note in proposal.notes)


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_the_sources_commands(shop: Shop, tmp_path: Path) -> None:
    shop.insert((1, 10, "5", T0))
    root = weir.init_project(tmp_path / "project", None)
    runner = CliRunner()
    found = runner.invoke(cli, ["--project", str(root), "sources", "discover", shop.url, "--write"])
    assert found.exit_code == 0, found.output
    assert (root / "sources" / "purchase_orders.yml").is_file()
    tested = runner.invoke(
        cli, ["--project", str(root), "sources", "test", "purchase_orders", "--format", "json"]
    )
    assert tested.exit_code == 0, tested.output
    assert [r["po_id"] for r in json.loads(tested.stdout)] == ["1"]
    missing = runner.invoke(cli, ["sources", "discover", "sqlite:///${WEIR_T_NOT_SET}"])
    assert missing.exit_code == 1
    assert "environment variable WEIR_T_NOT_SET is not set" in missing.stderr


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("deletes: {flag: deleted, every: 1d}", "deletes: {flag: quantity}", "must name a bool"),
        ("key: [po_id, updated_at]", "key: [po_id]", "part of the key"),
        ("mode: incremental", "mode: full", "applies to incremental extracts only"),
        ("  table: purchase_orders\n", "", "give a table or a query"),
        ("  cursor: updated_at\n", "", "needs a cursor column"),
        (
            "{name: po_id, type: int, nullable: false}",
            "{name: po_id, type: string, nullable: false, classification: pci}",
            "key column 'po_id' is card data",
        ),
    ],
)
def test_a_database_source_that_does_not_hold_together_is_refused(
    tmp_path: Path, old: str, new: str, says: str
) -> None:
    root = weir.init_project(tmp_path / "project", None)
    text = DELETES.format(url="sqlite:///shop.db")
    assert old in text
    (root / "sources" / "purchase_orders.yml").write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ProjectError, match=says):
        weir.Project(root)


CRASH_SCRIPT = """
import sys, weir
with weir.Project(sys.argv[1]) as project:
    project.sources.ingest(["purchase_orders"])
"""


def _run(root: Path, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ}
    env.pop("WEIR_CRASH_AT", None)
    if crash_at:
        env["WEIR_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _exactly_once(root: Path, total: int) -> None:
    with weir.Project(root) as project:
        assert scalar(project, "SELECT count(*) AS n FROM staging.purchase_orders") == total
        assert (
            scalar(project, "SELECT count(DISTINCT po_id) AS n FROM staging.purchase_orders")
            == total
        )
        # every batch that committed reconciles with raw: nothing counted that is not there
        received = sum(
            b.counts.received
            for b in project.ingestor.ledger.batches("purchase_orders")
            if b.status == "committed"
        )
        assert scalar(project, "SELECT count(*) AS n FROM raw.purchase_orders") == received


@pytest.mark.parametrize("server", ["postgresql"], indirect=True)
def test_a_crash_mid_extract_or_before_the_ledger_loses_and_repeats_nothing(
    shop: Shop, tmp_path: Path
) -> None:
    step = timedelta(seconds=1)
    shop.insert(*[(i, 1, "1", T0 + i * step) for i in range(1, 2001)])
    root = make_project(tmp_path, shop.url, extra="  chunk_size: 300")
    # killed after the first chunk landed: no batch, the cursor stays; the next extract
    # removes the half-written file and reads from where the last commit left off
    assert _run(root, "extract").wait() == 137
    assert_counts(ingest(root), received=2000, accepted=2000, quarantined=0, duplicates=0)
    shop.insert(*[(i, 1, "1", T0 + i * step) for i in range(2001, 2501)])
    # killed after the lake commit, before the ledger's: the batch is rolled back
    assert _run(root, "ledger").wait() == 137
    assert_counts(ingest(root), received=500, accepted=500, quarantined=0, duplicates=0)
    _exactly_once(root, 2500)
    extracts = root / ".weir" / "extracts" / "purchase_orders"
    assert list(extracts.glob("*")) == []  # raw holds the records: no extract file stays


@pytest.mark.slow
@pytest.mark.parametrize("server", ["postgresql"], indirect=True)
def test_sigkill_at_random_moments_of_extracts(shop: Shop, tmp_path: Path) -> None:
    step = timedelta(seconds=1)
    total = 0
    root = make_project(tmp_path, shop.url, extra="  chunk_size: 500")
    rng = random.Random(20261207)
    for _ in range(3):
        shop.insert(*[(i, 1, "1", T0 + i * step) for i in range(total + 1, total + 5001)])
        total += 5000
        process = _run(root)
        time.sleep(rng.uniform(0.5, 4.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    final = _run(root)
    assert final.wait() == 0, final.stderr.read() if final.stderr else ""
    _exactly_once(root, total)


# -- card data ------------------------------------------------------------------------------
CARDS = ["4111111111111111", "5555-5555-5555-4444", "378282246310005", "4012888888881881"]
IN_NOTE = "6011111111111117"  # a card number written inside a free-text field
NOTE = "Ada Okonkwo-Bright asked to split the bill"  # a value no sealed byte may show

PAYMENTS_DB = """
name: payments
format: database
database:
  url: "{url}"
  table: payments
  mode: incremental
  cursor: payment_id
  chunk_size: 2
key: [payment_id]
columns:
  - {{name: payment_id, type: int, nullable: false}}
  - {{name: card_number, type: string, classification: pci}}
  - {{name: note, type: string, classification: pii}}
"""

PAYMENTS_FILE = """
name: payments_file
format: csv
location: landing/payments_file/*.csv
key: [payment_id]
columns:
  - {name: payment_id, type: int, nullable: false}
  - {name: card_number, type: string, classification: pci}
  - {name: note, type: string, classification: pii}
"""

CARD_CRASH = """
import sys, weir
with weir.Project(sys.argv[1]) as project:
    project.sources.ingest(["payments"])
"""


def _payments(url: str) -> list[tuple[int, str | None, str]]:
    """A payments table holding card numbers, one of them inside a note; its rows."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table(
        "payments",
        metadata,
        sa.Column("payment_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("card_number", sa.String(30)),
        sa.Column("note", sa.String(200)),
    )
    metadata.create_all(engine)
    made: list[tuple[int, str | None, str]] = [
        (i + 1, card, f"{NOTE} #{i + 1}") for i, card in enumerate(CARDS)
    ]
    made += [(5, None, f"card {IN_NOTE} read out on the phone")]
    with engine.begin() as conn:
        conn.execute(
            table.insert(), [{"payment_id": i, "card_number": c, "note": n} for i, c, n in made]
        )
    engine.dispose()
    return made


def _card_project(tmp_path: Path, url: str, at_rest: bool = False) -> Path:
    root = weir.init_project(tmp_path / "project", None)
    (root / "sources" / "payments.yml").write_text(PAYMENTS_DB.format(url=url), encoding="utf-8")
    if at_rest:
        with (root / "weir.yml").open("a", encoding="utf-8") as handle:
            handle.write("\nencryption:\n  at_rest: true\n")
    return root


def _crash_mid_extract(root: Path) -> Path:
    """Run an ingest killed after its first chunk landed; the extract it left behind."""
    env = {**os.environ, "WEIR_CRASH_AT": "extract"}
    killed = subprocess.run(
        [sys.executable, "-c", CARD_CRASH, str(root)], env=env, capture_output=True
    )
    assert killed.returncode == 137, killed.stderr.decode()
    [left] = (root / ".weir" / "extracts" / "payments").iterdir()
    return left


def _cards_in(data: bytes) -> list[str]:
    digits = [c.replace("-", "") for c in [*CARDS, IN_NOTE]]
    return [c for c in [*CARDS, *digits] if c.encode() in data]


def test_a_card_column_in_postgresql_lands_tokenised_like_a_file_source(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    made = _payments(url)
    root = _card_project(tmp_path, url)
    (root / "sources" / "payments_file.yml").write_text(PAYMENTS_FILE, encoding="utf-8")
    landing = root / "landing" / "payments_file"
    landing.mkdir(parents=True)
    with (landing / "payments.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write("payment_id,card_number,note\n")
        for i, card, note in made:
            handle.write(f'{i},{card or ""},"{note}"\n')
    # during: an extract killed after its first chunk holds tokens, never a card number
    left = _crash_mid_extract(root)
    assert left.suffix == ".jsonl" and b'"card_number": "tok_' in left.read_bytes()
    state = [p for p in (root / ".weir").rglob("*") if p.is_file()]
    assert _cards_in(bytes_outside(*state)) == []
    with weir.Project(root) as project:
        [db] = project.sources.ingest(["payments"])
        [file] = project.sources.ingest(["payments_file"])
        assert_counts(db, received=5, accepted=5, quarantined=0, duplicates=0)
        assert_counts(file, received=5, accepted=5, quarantined=0, duplicates=0)
        query = "SELECT payment_id, card_number, card_number_last4, note FROM staging.{} ORDER BY 1"
        from_db = rows(project, query.format("payments"))
        from_file = rows(project, query.format("payments_file"))
    # the same tokens, last four digits and redacted note as the file source's
    assert from_db == from_file
    assert [r["card_number_last4"] for r in from_db] == ["1111", "4444", "0005", "1881", None]
    assert all(r["card_number"].startswith("tok_") for r in from_db[:4])
    assert from_db[1]["card_number"] != from_db[0]["card_number"]
    assert from_db[4]["note"] == "card [card ****1117] read out on the phone"
    # after: no byte under .weir holds a card number, the extract is gone
    state = [p for p in (root / ".weir").rglob("*") if p.is_file()]
    assert _cards_in(bytes_outside(*state)) == []
    assert list((root / ".weir" / "extracts" / "payments").iterdir()) == []


def test_with_encryption_at_rest_the_extract_holds_no_clear_value(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    _payments(url)
    root = _card_project(tmp_path, url, at_rest=True)
    left = _crash_mid_extract(root)
    data = left.read_bytes()
    assert left.suffix == ".sealed" and len(data) > 100
    for value in [NOTE, "Okonkwo", "tok_", "card_number", "payment_id", *CARDS]:
        assert value.encode() not in data, value
    with weir.Project(root) as project:
        # the next run removes the half-written extract and reads every row again
        [result] = project.sources.ingest(["payments"])
        assert_counts(result, received=5, accepted=5, quarantined=0, duplicates=0)
        found = rows(project, "SELECT note, card_number_last4 FROM staging.payments ORDER BY 1")
    assert [r["card_number_last4"] for r in found][:4] == ["1111", "4444", "0005", "1881"]
    assert found[0]["note"] == f"{NOTE} #1"
    assert list((root / ".weir" / "extracts" / "payments").iterdir()) == []
