"""Logistics and supplier lead time end to end: the carrier API and the shop's database as sources,
their models and KPIs on hand-made data (tests/golden/logistics.py), and day-by-day builds."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import NewDatabase
from golden.check import plain
from golden.logistics import LOGISTICS, PO_FINAL, PO_FIRST, hop_events
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.cli.main import cli
from weir.demo.carrier import ADDRESS_VARIABLE, CarrierApi, feed_path, read_feed
from weir.demo.generate import generate
from weir.demo.generate.logistics import (
    DB_FILE,
    DB_FOLDER,
    SHOP_DB_VARIABLE,
    write_purchase_orders,
)
from weir.demo.tour import connected
from weir.errors import WeirError
from weir.ingest.rest import RestClient
from weir.project.loader import load_project

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
BY = {"supplier": "supplier_id", "warehouse": "warehouse_id", "product": "product_id"}
# the new models and what they read (the stock facts for stockouts behind late orders)
SELECTED = [
    "+marts.late_delivery_stockouts_daily",
    "warehouse.fact_parcel_hops+",
    "warehouse.fact_parcel_deliveries+",
    "warehouse.fact_purchase_orders+",
]
NEW_MODELS = (
    "warehouse.fact_parcel_hops",
    "warehouse.fact_parcel_deliveries",
    "warehouse.fact_purchase_orders",
    "marts.hop_dwell",
    "marts.hop_bottlenecks_daily",
    "marts.deliveries_daily",
    "marts.supplier_lead_time",
    "marts.late_delivery_stockouts_daily",
)


def _write_db(landing: Path, rows: list[dict[str, Any]]) -> None:
    folder = landing / DB_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{folder / DB_FILE}")
    try:
        write_purchase_orders(engine, rows)
    finally:
        engine.dispose()


def _write_feed(landing: Path, events: list[dict[str, Any]]) -> None:
    path = feed_path(landing)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


@pytest.fixture(scope="module")
def golden(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[weir.Project, dict[str, Any]]]:
    """The golden retailer plus the logistics data, ingested (POs read twice) and built."""
    root = weir.init_project(tmp_path_factory.mktemp("logistics") / "shop")
    landing = root / "landing"
    shutil.copytree(GOLDEN, landing, dirs_exist_ok=True)
    _write_feed(landing, hop_events())
    _write_db(landing, PO_FIRST)
    project = weir.Project(root)
    counts: dict[str, Any] = {}
    with connected(landing):
        for result in project.sources.ingest():
            counts[result.source] = result.counts
        _write_db(landing, PO_FINAL)
        [again] = project.sources.ingest(["purchase_orders"])
        counts["purchase_orders again"] = again.counts
    _, run = project.run(ingest=False)
    assert run.ok, [(b.model, b.error) for b in run.builds if b.status == "failed"]
    assert {b.model for b in run.builds if b.status == "built"} >= set(NEW_MODELS)
    yield project, counts
    project.close()


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['kpi']}-{entry['grain']}-{'+'.join(entry['by']) or 'all'}-{entry['from']}"


@pytest.mark.parametrize("entry", LOGISTICS, ids=[_id(e) for e in LOGISTICS])
def test_kpi_matches_the_hand_worked_value(
    golden: tuple[weir.Project, dict[str, Any]], entry: dict[str, Any]
) -> None:
    project, _ = golden
    table = project.kpis.answer(
        entry["kpi"],
        grain=entry["grain"],
        by=[BY.get(b, b) for b in entry["by"]],
        start=date.fromisoformat(entry["from"]),
        end=date.fromisoformat(entry["to"]),
    )
    wanted = sorted({key for row in entry["rows"] for key in row})
    got = [{k: plain(row.get(k)) for k in wanted} for row in table.to_pylist()]
    assert got == [{k: plain(row.get(k)) for k in wanted} for row in entry["rows"]]


def test_the_sources_count_what_the_golden_data_holds(
    golden: tuple[weir.Project, dict[str, Any]],
) -> None:
    _, counts = golden
    hops = counts["parcel_hops"]
    # 238 bottleneck events + 15 of the delivered parcels = 253; D2's arrive sent twice is a
    # duplicate; D5's doorstep arrival (carrier speedyexpress) is quarantined
    assert (hops.received, hops.accepted, hops.quarantined, hops.duplicates) == (253, 251, 1, 1)
    first, again = counts["purchase_orders"], counts["purchase_orders again"]
    assert (first.received, first.accepted, first.quarantined) == (3, 2, 1)  # PO5: quantity 0
    assert (again.received, again.accepted, again.quarantined, again.duplicates) == (5, 5, 0, 0)


def test_the_latest_version_of_each_purchase_order_counts(
    golden: tuple[weir.Project, dict[str, Any]],
) -> None:
    project, _ = golden
    staged = project.sql("SELECT po_id FROM staging.purchase_orders ORDER BY po_id, updated_at")
    assert [r["po_id"] for r in staged.to_pylist()] == [1, 1, 2, 2, 3, 4, 6]
    facts = project.sql(
        "SELECT po_id, epoch(delivered_at) AS delivered, is_late FROM warehouse.fact_purchase_orders "
        "ORDER BY po_id"
    ).to_pylist()
    at = datetime(2025, 1, 9, 10, tzinfo=UTC).timestamp()
    assert facts[0] == {"po_id": 1, "delivered": at, "is_late": 1}
    assert [(f["po_id"], f["is_late"]) for f in facts] == [
        (1, 1),
        (2, 0),
        (3, 1),
        (4, None),
        (6, None),
    ]


def test_a_repeated_scan_counts_once_the_earliest(
    golden: tuple[weir.Project, dict[str, Any]],
) -> None:
    project, _ = golden
    [d1] = project.sql(
        "SELECT dwell_hours FROM warehouse.fact_parcel_hops WHERE parcel_id = 'D1'"
    ).to_pylist()
    assert d1["dwell_hours"] == 3.0  # 12:00 - 09:00; the 12:30 re-scan does not count
    [d3] = project.sql(
        "SELECT delivered_on FROM warehouse.fact_parcel_deliveries WHERE parcel_id = 'D3'"
    ).to_pylist()
    assert d3["delivered_on"] == date(2025, 1, 9)


def test_the_logistics_role_reads_its_marts_only(
    golden: tuple[weir.Project, dict[str, Any]],
) -> None:
    project, _ = golden
    config = project.files.config
    assert "marts.supplier_lead_time" in config.roles["logistics"].grants
    assert "marts.hop_dwell" in config.roles["operations"].grants
    assert "warehouse" not in config.roles["logistics"].grants


# -- the carrier API -------------------------------------------------------------------
def test_the_carrier_api_pages_with_a_cursor_from_the_since_position() -> None:
    events = [{"seq": i, "parcel_id": f"P{i}"} for i in range(1, 8)]
    api = CarrierApi(events, token="t0ken").start()
    try:
        headers = {"Authorization": "Bearer t0ken"}
        first = httpx.get(api.url, params={"since": 2, "limit": 3}, headers=headers).json()
        assert [e["seq"] for e in first["data"]] == [3, 4, 5] and first["next_cursor"] == "5"
        params = {"since": 2, "limit": 3, "cursor": first["next_cursor"]}
        last = httpx.get(api.url, params=params, headers=headers).json()
        assert [e["seq"] for e in last["data"]] == [6, 7] and last["next_cursor"] is None
        assert httpx.get(api.url).status_code == 401
        bad = httpx.get(api.url, params={"limit": "many"}, headers=headers)
        assert bad.status_code == 400 and "whole numbers" in bad.json()["error"]
    finally:
        api.stop()


def test_an_unconnected_source_is_skipped_when_ingesting_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ADDRESS_VARIABLE, raising=False)
    monkeypatch.delenv(SHOP_DB_VARIABLE, raising=False)
    said: list[tuple[str, str]] = []
    root = weir.init_project(tmp_path / "shop")
    with weir.Project(root, progress=lambda source, stage: said.append((source, stage))) as p:
        results = p.sources.ingest()
        assert "parcel_hops" not in {r.source for r in results}
        assert ("parcel_hops", f"skipped: not connected here ({ADDRESS_VARIABLE} not set)") in said
        assert (
            "purchase_orders",
            f"skipped: not connected here ({SHOP_DB_VARIABLE} not set)",
        ) in said
        with pytest.raises(WeirError, match=f"environment variable {ADDRESS_VARIABLE} is not set"):
            p.sources.ingest(["parcel_hops"])
        _, run = p.run(ingest=False)
        assert run.ok  # nothing failed: the models wait for their sources
        [hops] = [b for b in run.builds if b.model == "warehouse.fact_parcel_hops"]
        assert (hops.status, hops.reason) == (
            "skipped",
            "no data yet: never ingested: staging.parcel_hops",
        )
    shown = CliRunner().invoke(cli, ["--project", str(root), "ingest", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert f"parcel_hops: skipped, not connected here ({ADDRESS_VARIABLE} not set)" in shown.stderr
    ran = CliRunner().invoke(cli, ["--project", str(root), "run", "--format", "json"])
    assert ran.exit_code == 0, ran.output
    assert f"purchase_orders: skipped, not connected here ({SHOP_DB_VARIABLE}" in ran.stderr


# -- the generated sources ---------------------------------------------------------------
def _as_of(rows: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    """The shop's table as it stood at ``moment``: the orders placed by then, as they were."""
    shown = []
    for row in rows:
        if row["ordered_at"] > moment:
            continue
        row = dict(row)
        for column in ("dispatched_at", "delivered_at"):
            if row[column] is not None and row[column] > moment:
                row[column] = None
        row["updated_at"] = max(
            row[c] for c in ("ordered_at", "dispatched_at", "delivered_at") if row[c] is not None
        )
        shown.append(row)
    return shown


def _db_rows(landing: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(landing / DB_FOLDER / DB_FILE) as con:
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM purchase_orders ORDER BY po_id")]
    for row in rows:
        for column in ("ordered_at", "dispatched_at", "delivered_at", "updated_at"):
            if row[column] is not None:
                row[column] = datetime.fromisoformat(row[column])
    return rows


def _new_tables(project: weir.Project) -> dict[str, list[str]]:
    return {
        model: sorted(
            json.dumps(r, default=str, sort_keys=True)
            for r in project.sql(f"SELECT * FROM {model}").to_pylist()
        )
        for model in NEW_MODELS
    }


def test_day_by_day_builds_equal_one_build(tmp_path: Path) -> None:
    """The feed and the database grow over three steps (late events and changed orders among
    them); building after each step gives the same new models as one build of everything."""
    landing = tmp_path / "generated"
    manifest = generate(landing, days=3, scale=0.04, seed=13, end=date(2026, 6, 30))
    events, rows = read_feed(feed_path(landing)), _db_rows(landing)

    def build(name: str, steps: int) -> dict[str, list[str]]:
        root = weir.init_project(tmp_path / name)
        shutil.copytree(landing, root / "landing", dirs_exist_ok=True)
        api = CarrierApi([]).start()
        db = root / "landing" / DB_FOLDER
        os.environ[ADDRESS_VARIABLE] = api.address
        os.environ[SHOP_DB_VARIABLE] = f"sqlite:///{db / DB_FILE}"
        try:
            with weir.Project(root) as project:
                files = [
                    n for n in project.sources.names if n not in ("parcel_hops", "purchase_orders")
                ]
                project.sources.ingest(files)
                for step in range(1, steps + 1):
                    shown = events[: len(events) * step // steps]
                    api.add(shown[len(api.events) :])
                    moment = datetime.fromtimestamp(shown[-1]["timestamp"], UTC)
                    _write_db(root / "landing", _as_of(rows, moment.replace(tzinfo=None)))
                    project.sources.ingest(["parcel_hops", "purchase_orders"])
                    _, run = project.run(SELECTED, ingest=False)
                    assert run.ok, [(b.model, b.error) for b in run.builds if b.status == "failed"]
                _write_db(root / "landing", rows)  # the end of the period: every order as it is
                project.sources.ingest(["purchase_orders"])
                _, run = project.run(SELECTED, ingest=False)
                assert run.ok
                return _new_tables(project)
        finally:
            api.stop()
            os.environ.pop(ADDRESS_VARIABLE, None)
            os.environ.pop(SHOP_DB_VARIABLE, None)

    once = build("once", 1)
    # the generator's ground truth: deliveries and late ones as weir must find them
    truth = manifest.truth["logistics"]
    deliveries = [json.loads(r) for r in once["marts.deliveries_daily"]]
    assert sum(r["parcels_delivered"] for r in deliveries) == truth["parcels_delivered"]
    assert sum(r["late_parcels"] for r in deliveries) == truth["late_parcels"]
    orders = [json.loads(r) for r in once["marts.supplier_lead_time"]]
    assert sum(r["is_late"] for r in orders) == truth["purchase_orders_delivered_late"]
    daily = build("daily", 3)
    assert all(once[m] for m in NEW_MODELS if "stockouts" not in m), "a model is empty"
    for model in NEW_MODELS:
        assert daily[model] == once[model], f"{model} differs when built step by step"


def test_purchase_orders_read_from_postgresql(tmp_path: Path, new_database: NewDatabase) -> None:
    """The same source against the OLTP PostgreSQL: every row, the dirty ones held."""
    landing = tmp_path / "generated"
    manifest = generate(landing, days=3, scale=0.05, seed=4, end=date(2026, 6, 30))
    rows = [r for r in _db_rows(landing) if r["quantity"] != "abc"]  # PostgreSQL types its columns
    url = new_database()
    engine = sa.create_engine(url)
    try:
        write_purchase_orders(engine, rows)
    finally:
        engine.dispose()
    expected = manifest.sources["purchase_orders"]
    wrong_type = expected.dirty.get("wrong_type", 0)
    root = weir.init_project(tmp_path / "shop")
    os.environ[SHOP_DB_VARIABLE] = url
    try:
        with weir.Project(root) as project:
            [result] = project.sources.ingest(["purchase_orders"])
            c = result.counts
            assert (c.received, c.accepted, c.quarantined) == (
                expected.received - wrong_type,
                expected.accepted,
                expected.quarantined - wrong_type,
            )
            [again] = project.sources.ingest(["purchase_orders"])
            assert again.counts.accepted == 0  # the lookback's rows are duplicates
            assert project.sql("SELECT count(*) AS n FROM staging.purchase_orders").to_pylist() == [
                {"n": expected.accepted}
            ]
    finally:
        os.environ.pop(SHOP_DB_VARIABLE, None)


@settings(max_examples=25, deadline=None)
@given(count=st.integers(0, 40), size=st.integers(1, 7), split=st.integers(0, 40))
def test_any_page_size_and_any_cursor_read_every_event_exactly_once(
    count: int, size: int, split: int
) -> None:
    """Two extracts of the example's parcel_hops source, the feed growing in between: together
    they hold every event once, whatever the page size and wherever the first one stopped."""
    events = [{"seq": i, "parcel_id": f"P{i}", "hop_number": 1} for i in range(1, count + 1)]
    split = min(split, count)
    example = load_project(Path(weir.__file__).parent / "demo" / "example")
    source = example.sources["parcel_hops"]
    assert source.rest is not None
    paging = source.rest.pagination.model_copy(update={"size": size})
    source = source.model_copy(
        update={"rest": source.rest.model_copy(update={"pagination": paging})}
    )
    api = CarrierApi(events[:split]).start()
    os.environ[ADDRESS_VARIABLE] = api.address
    try:
        first = RestClient(source).extract(None)
        api.add(events[split:])
        second = RestClient(source).extract(first.cursor)
    finally:
        api.stop()
        os.environ.pop(ADDRESS_VARIABLE, None)
    seqs = [json.loads(r)["seq"] for r in (*first.records, *second.records)]
    assert sorted(seqs) == list(range(1, count + 1))
    assert first.cursor == (str(split) if split else None)
    assert first.pages == max(1, -(-split // size))  # the last page has no next_cursor
