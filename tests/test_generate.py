"""The reference retailer's generator: repeatable bytes, an exact manifest, the dirt it promises.

The manifest is checked against an independent reading of the written files:
every record is parsed and checked against the example project's contracts
here, with the accounting rules ingestion applies (a record is quarantined if
malformed or off-contract, else de-duplicated by key; entity keys are per
extract date; a record without an event id is keyed by its content).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest
from lxml import etree

from weir.demo.generate import DIRT_KINDS, OUTCOMES, SOURCES, GenerateError, Manifest, generate
from weir.demo.generate.accounting import PNL_COLUMNS
from weir.demo.generate.build import _generate
from weir.demo.generate.cards import card_digits
from weir.demo.generate.crm import CRM_COLUMNS
from weir.demo.generate.extracts import (
    CUSTOMER_COLUMNS,
    DEMOGRAPHIC_COLUMNS,
    PRODUCT_COLUMNS,
    STORE_COLUMNS,
    WAREHOUSE_COLUMNS,
)
from weir.demo.generate.inventory import INVENTORY_COLUMNS
from weir.demo.generate.logistics import API_FILE, API_FOLDER, DB_FILE, DB_FOLDER
from weir.demo.generate.sales import ORDER_COLUMNS, POS_COLUMNS
from weir.demo.generate.web import WEB_COLUMNS
from weir.ingest.pci import luhn_valid
from weir.project.config import SourceConfig
from weir.project.loader import load_project

EXAMPLE = Path(__file__).resolve().parents[1] / "weir" / "demo" / "example"
DAYS, SCALE, START = 3, 0.05, date(2025, 1, 1)
_INT = re.compile(r"[+-]?[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DB_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}(\.[0-9]+)?")
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}))?")


@pytest.fixture(scope="module")
def contracts() -> dict[str, SourceConfig]:
    return load_project(EXAMPLE).sources


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate(out, days=DAYS, scale=SCALE, seed=7, start=START)


# -- an independent reading of the files -----------------------------------------------
@dataclass
class Reading:
    """What ingestion must make of one source's files."""

    files: int = 0
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    valid: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)


def _records(
    source: SourceConfig, folder: Path
) -> Iterator[tuple[Path, dict[str, str | None] | None]]:
    """Each record of the source's files in sorted path order: its text fields, or None if malformed."""
    names = source.column_names
    if source.format == "database":  # the shop's database: one row a record, times as epochs
        path = folder.parent / DB_FOLDER / DB_FILE
        with sqlite3.connect(path) as con:
            cursor = con.execute(f"SELECT {', '.join(names)} FROM purchase_orders ORDER BY po_id")
            for row in cursor.fetchall():
                yield path, {n: _db_text(v) for n, v in zip(names, row, strict=True)}
        return
    for path in _source_files(source, folder):
        if source.format in ("csv",):
            lines = path.read_text("utf-8").split("\n")
            assert lines[-1] == "", f"{path.name} does not end with a newline"
            header = next(csv.reader([lines[0]]))
            for line in lines[1:-1]:
                row = next(csv.reader([line], strict=True))
                if header != names or len(row) != len(names):
                    yield path, None
                else:
                    yield (
                        path,
                        {n: (v if v != "" else None) for n, v in zip(names, row, strict=True)},
                    )
        elif source.format in ("jsonl", "json", "rest"):
            text = path.read_text("utf-8")
            if source.format == "json":
                texts = [json.dumps(element) for element in json.loads(text)]
            else:
                texts = [line for line in text.split("\n") if line.strip()]
            for line in texts:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    yield path, None
                    continue
                if not isinstance(obj, dict) or set(obj) - set(names):
                    yield path, None
                    continue
                yield path, {n: _text(obj.get(n)) for n in names}
        elif source.format == "xml":
            assert source.xml is not None
            for _, element in etree.iterparse(str(path), tag=source.xml.record_tag):
                fields = {child.tag: (child.text or "").strip() or None for child in element}
                yield path, None if set(fields) - set(names) else {n: fields.get(n) for n in names}
        elif source.format == "xlsx":
            # read with openpyxl, not the calamine reader ingestion uses
            book = openpyxl.load_workbook(path, read_only=True)
            for sheet in book.worksheets:
                rows = list(sheet.iter_rows(values_only=True))
                header = list(rows[source.sheet.header_row - 1])
                for row in rows[source.sheet.header_row :]:
                    if header != names:
                        yield path, None
                    else:
                        yield path, {n: _text(v) for n, v in zip(names, row, strict=True)}
        else:
            table = pq.read_table(path)
            for row in table.to_pylist():
                yield path, None if set(row) - set(names) else {n: _text(row.get(n)) for n in names}


def _source_files(source: SourceConfig, folder: Path) -> list[Path]:
    """The source's files; a REST source's are the carrier API's feed, as served."""
    if source.format == "rest":
        return [folder.parent / API_FOLDER / API_FILE]
    return sorted(folder.glob(source.location.rsplit("/", 1)[-1]))


def _db_text(value: object) -> str | None:
    """A database value as the database source writes it: a time as epoch seconds (UTC)."""
    if isinstance(value, str) and _DB_TIME.fullmatch(value):
        moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return str(int(moment.timestamp()))
    return None if value is None else str(value)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _typed(
    source: SourceConfig, record: dict[str, str | None], now: float
) -> dict[str, Any] | None:
    """The record's typed values, or None when it breaks the contract."""
    typed: dict[str, Any] = {}
    for column in source.columns:
        raw = record[column.name]
        value = raw.strip() if raw is not None else None
        if not value:
            if not column.nullable:
                return None
            typed[column.name] = None
            continue
        x: Any = value
        if column.type == "int":
            if not _INT.fullmatch(value):
                return None
            x = int(value)
        elif column.type in ("float", "epoch"):
            try:
                x = float(value)
            except ValueError:
                return None
            if not math.isfinite(x) or (column.type == "epoch" and abs(x) >= 1e11):
                return None
        elif column.type == "date":
            if not _DATE.fullmatch(value):
                return None
            try:
                x = date.fromisoformat(value)
            except ValueError:
                return None
        if column.min is not None and x < column.min:
            return None
        if column.max is not None and x > column.max:
            return None
        if column.enum is not None and x not in column.enum:
            return None
        if column.regex is not None and not re.fullmatch(column.regex, x):
            return None
        if column.not_future:
            moment = x if column.type == "epoch" else (x - date(1970, 1, 1)).days * 86_400
            if moment > now + 3_600:
                return None
        typed[column.name] = x
    if (
        source.name == "pos"
        and typed["discount_applied"] is not None
        and typed["discount_applied"] > typed["revenue"]
    ):
        return None
    return typed


def read_back(source: SourceConfig, landing: Path) -> Reading:
    reading = Reading()
    folder = landing / source.name
    reading.files = 1 if source.format == "database" else len(_source_files(source, folder))
    seen: set[tuple[str, ...]] = set()
    now = time.time()
    for path, record in _records(source, folder):
        reading.received += 1
        typed = None if record is None else _typed(source, record, now)
        if record is None or typed is None:
            reading.quarantined += 1
            continue
        content = hashlib.md5(
            "\x1f".join("\\N" if v is None else v for v in record.values()).encode()
        ).hexdigest()
        key = tuple(content if typed[k] is None else str(typed[k]) for k in source.key)
        if source.kind == "entity":
            match = _STAMP.search(path.name)
            assert match is not None
            key += (match.group(1),)
        if key in seen:
            reading.duplicates += 1
        else:
            seen.add(key)
            reading.accepted += 1
            reading.valid.append((path, typed))
    return reading


@pytest.fixture(scope="module")
def readings(run: tuple[Path, Manifest], contracts: dict[str, SourceConfig]) -> dict[str, Reading]:
    landing, _ = run
    return {name: read_back(contracts[name], landing) for name in SOURCES}


# -- the manifest -----------------------------------------------------------------------
def test_every_source_is_generated_and_balanced(
    run: tuple[Path, Manifest], contracts: dict[str, SourceConfig]
) -> None:
    _, manifest = run
    # device_events only arrives as a live stream (MQTT); the generator writes no files for it
    assert set(manifest.sources) == set(SOURCES) == set(contracts) - {"device_events"}
    for name, counts in manifest.sources.items():
        assert counts.balanced, name
        assert counts.received > 0 and counts.files > 0, name
        by_outcome = Counter()
        for kind, n in counts.dirty.items():
            by_outcome[OUTCOMES[kind]] += n  # type: ignore[index]
        assert by_outcome["quarantined"] == counts.quarantined, name
        assert by_outcome["duplicate"] == counts.duplicates, name


def test_manifest_matches_an_independent_reading(
    run: tuple[Path, Manifest], readings: dict[str, Reading]
) -> None:
    _, manifest = run
    for name, reading in readings.items():
        expected = manifest.sources[name]
        got = (
            reading.files,
            reading.received,
            reading.accepted,
            reading.quarantined,
            reading.duplicates,
        )
        want = (
            expected.files,
            expected.received,
            expected.accepted,
            expected.quarantined,
            expected.duplicates,
        )
        assert got == want, f"{name}: read back {got}, manifest says {want}"


def test_manifest_file_round_trips(run: tuple[Path, Manifest]) -> None:
    landing, manifest = run
    text = (landing / "manifest.json").read_text()
    assert text == manifest.to_json()
    assert Manifest.from_path(landing) == manifest
    body = json.loads(text)
    assert list(body) == sorted(body)
    assert (body["seed"], body["days"], body["scale"], body["start"]) == (
        7,
        DAYS,
        SCALE,
        "2025-01-01",
    )


def test_the_dirt_the_sources_promise_is_there(run: tuple[Path, Manifest]) -> None:
    _, manifest = run
    kinds = Counter[str]()
    for counts in manifest.sources.values():
        kinds.update(counts.dirty)
    assert set(kinds) <= set(DIRT_KINDS)
    for kind in DIRT_KINDS:
        assert kinds[kind] > 0, f"no {kind} anywhere"
    pos, web, crm = (manifest.sources[n].dirty for n in ("pos", "web_traffic", "crm_interactions"))
    assert {"resent_file", "renamed_column", "malformed_line", "rule_violation"} <= set(pos)
    assert {
        "late_event",
        "missing_event_id",
        "extra_field",
        "unknown_enum",
        "regex_mismatch",
    } <= set(web)
    assert {"email_in_message", "phone_in_message", "card_in_message", "missing_event_id"} <= set(
        crm
    )
    for name, counts in manifest.sources.items():
        dirty = counts.quarantined + counts.duplicates
        assert dirty / counts.received < (0.25 if name == "pos" else 0.3), name


def test_odd_files_of_pos(run: tuple[Path, Manifest]) -> None:
    landing, _ = run
    resent = sorted((landing / "pos").glob("*_resent.csv"))
    assert len(resent) == 1
    original = resent[0].with_name(resent[0].name.replace("_resent", ""))
    assert resent[0].read_bytes() == original.read_bytes()
    headers = Counter(p.read_text().split("\n", 1)[0] for p in (landing / "pos").glob("*.csv"))
    assert headers[",".join(POS_COLUMNS).replace("discount_applied", "discount")] == 1


# -- repeatability ------------------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(
    run: tuple[Path, Manifest], tmp_path: Path
) -> None:
    landing, _ = run
    again = tmp_path / "again"
    generate(again, days=DAYS, scale=SCALE, seed=7, start=START)
    assert _files(again) == _files(landing)
    other = tmp_path / "other"
    generate(other, days=DAYS, scale=SCALE, seed=8, start=START)
    theirs, ours = _files(other), _files(landing)
    # The warehouses are the same in every run and a quiet night hour has no inventory file content.
    compared = [n for n, b in ours.items() if b and n in theirs and not n.startswith("warehouses")]
    assert len(compared) > 0.8 * len(ours)
    assert all(theirs[n] != ours[n] for n in compared if n != "manifest.json")


def test_a_second_process_changes_no_byte(run: tuple[Path, Manifest], tmp_path: Path) -> None:
    landing, manifest = run
    split = tmp_path / "split"
    assert _generate(split, DAYS, SCALE, 7, START, parallel=True) == manifest
    assert _files(split) == _files(landing)


def test_a_second_run_replaces_the_files_of_the_first(tmp_path: Path) -> None:
    generate(tmp_path, days=4, scale=0.02, seed=1)
    manifest = generate(tmp_path, days=2, scale=0.02, seed=1)
    assert len(list((tmp_path / "orders").glob("*.xml"))) == manifest.sources["orders"].files == 2


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(GenerateError, match="days"):
        generate(tmp_path, days=0)
    with pytest.raises(GenerateError, match="scale"):
        generate(tmp_path, scale=0)
    with pytest.raises(GenerateError, match="not over yet"):
        generate(tmp_path, days=2, start=date.today())


# -- the records themselves -----------------------------------------------------------------
def test_columns_follow_the_contracts(contracts: dict[str, SourceConfig]) -> None:
    written = {
        "pos": POS_COLUMNS,
        "inventory": INVENTORY_COLUMNS,
        "orders": ORDER_COLUMNS,
        "web_traffic": WEB_COLUMNS,
        "crm_interactions": CRM_COLUMNS,
        "stores": STORE_COLUMNS,
        "warehouses": WAREHOUSE_COLUMNS,
        "products": PRODUCT_COLUMNS,
        "customers": CUSTOMER_COLUMNS,
        "customer_demographics": DEMOGRAPHIC_COLUMNS,
        "accounting_pnl": PNL_COLUMNS,
    }
    for name, columns in written.items():
        assert tuple(contracts[name].column_names) == columns, name


def test_card_numbers_pass_luhn(readings: dict[str, Reading]) -> None:
    cards = [r["card_number"] for _, r in readings["pos"].valid if r["card_number"] is not None]
    assert cards and all(len(c) == 16 and c[0] in "45" and luhn_valid(c) for c in cards)
    found = re.compile(r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{4}\b")
    in_messages = [
        m.group(0)
        for _, r in readings["crm_interactions"].valid
        for m in [found.search(r["message_excerpt"] or "")]
        if m
    ]
    assert in_messages and all(luhn_valid(re.sub(r"[ -]", "", c)) for c in in_messages)
    assert not luhn_valid("4111111111111112")


def test_generated_card_numbers_pass_the_check_ingestion_uses() -> None:
    rng = np.random.default_rng(7)
    numbers = ["".join(map(str, row)) for row in card_digits(rng, 500)]
    assert all(luhn_valid(n) for n in numbers)
    # one digit changed breaks the check: the check digit is the one that completes the body
    assert not any(luhn_valid(n[:-1] + str((int(n[-1]) + 1) % 10)) for n in numbers)


def _day(path: Path) -> tuple[date, int | None]:
    match = _STAMP.search(path.name)
    assert match is not None, path.name
    return date.fromisoformat(match.group(1)), None if match.group(2) is None else int(
        match.group(2)
    )


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def test_dates_agree_with_file_names(readings: dict[str, Reading]) -> None:
    days = {START.fromordinal(START.toordinal() + d) for d in range(DAYS)}
    for name, reading in readings.items():
        if name in ("parcel_hops", "purchase_orders"):  # an API and a database: no dated files
            continue
        assert {_day(path)[0] for path, _ in reading.valid} <= days, name
    end = datetime(START.year, START.month, START.day, tzinfo=UTC).timestamp() + DAYS * 86_400
    for _, r in readings["parcel_hops"].valid:  # nothing after the period has happened yet
        assert r["timestamp"] < end
        assert r["promised_date"] > _moment(r["timestamp"]).date() - timedelta(days=8)
    for _, r in readings["purchase_orders"].valid:
        assert r["ordered_at"] <= r["updated_at"] < end
        if r["delivered_at"] is not None:
            assert r["ordered_at"] < r["dispatched_at"] < r["delivered_at"] == r["updated_at"]
    for path, r in readings["pos"].valid:
        day, _ = _day(path)
        assert _moment(r["timestamp"]).date() == day
        assert 9 <= _moment(r["timestamp"]).hour < 20
        assert path.stem.split("_store")[1].startswith(f"{r['store_id']:03d}")
        assert round(r["quantity"] * _price(readings, day, r["product_id"]), 2) == r["revenue"]
    for path, r in readings["inventory"].valid:
        day, hour = _day(path)
        assert (_moment(r["last_updated"]).date(), _moment(r["last_updated"]).hour) == (day, hour)
    late = 0
    for path, r in readings["web_traffic"].valid:
        day, hour = _day(path)
        assert hour is not None
        filed = datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp()
        assert (
            filed - 6 * 3600 <= r["timestamp"] < filed + 3600
        )  # late events arrive in a later hour's file
        late += r["timestamp"] < filed
    assert late > 0
    for path, r in readings["crm_interactions"].valid:
        assert _moment(r["timestamp"]).date() == _day(path)[0]
    for path, r in readings["orders"].valid:
        assert r["order_date"] == _day(path)[0]


def _price(readings: dict[str, Reading], day: date, product: int) -> float:
    prices = {(_day(p)[0], r["product_id"]): r["list_price"] for p, r in readings["products"].valid}
    return prices[(day, product)]


def test_entities_exist_before_they_are_used(readings: dict[str, Reading]) -> None:
    customers: dict[date, set[int]] = {}
    for path, r in readings["customers"].valid:
        day, _ = _day(path)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        assert r["created_at"] < start
        customers.setdefault(day, set()).add(r["customer_id"])
    products: dict[date, set[int]] = {}
    for path, r in readings["products"].valid:
        day, _ = _day(path)
        assert r["launched_on"] <= day and r["cost_price"] < r["list_price"]
        products.setdefault(day, set()).add(r["product_id"])
    for path, r in readings["stores"].valid:
        assert r["opened_on"] <= _day(path)[0]
    for source, column in (
        ("pos", "customer_id"),
        ("orders", "customer_id"),
        ("web_traffic", "user_id"),
        ("crm_interactions", "customer_id"),
    ):
        for path, r in readings[source].valid:
            if r[column] is not None:
                assert r[column] in customers[_day(path)[0]], (source, r)
    for path, r in readings["pos"].valid:
        assert r["product_id"] in products[_day(path)[0]]


def test_behaviour_looks_like_a_shop(readings: dict[str, Reading]) -> None:
    pos = [r for _, r in readings["pos"].valid]
    loyal = sum(r["customer_id"] is not None for r in pos) / len(pos)
    carded = sum(r["card_number"] is not None for r in pos) / len(pos)
    discounted = sum(r["discount_applied"] is not None for r in pos) / len(pos)
    assert 0.3 < loyal < 0.5 and 0.2 < carded < 0.4 and 0.1 < discounted < 0.2
    assert len({r["transaction_id"] for r in pos}) == len(pos)
    web = [r for _, r in readings["web_traffic"].valid]
    sessions = {r["session_id"] for r in web}
    assert 2 < len(web) / len(sessions) < 8
    assert any(r["element"] and r["element"].startswith("new_product:") for r in web)
    assert any(r["page"] == "/checkout/confirmation" for r in web)
    crm = [r for _, r in readings["crm_interactions"].valid]
    assert {r["case_status"] for r in crm} >= {"open", "resolved", None}
    assert {r["interaction_type"] for r in crm} == {"Feedback", "Loyalty", "Complaint"}
