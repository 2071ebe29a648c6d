"""Batches: duplicates, re-sent files, entity extracts, replay, crash recovery and time travel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    POS_HEADER,
    T0,
    assert_counts,
    assert_reconciles,
    edit_source,
    ingest_one,
    jsonl,
    land,
    pos_csv,
    pos_line,
    rows,
    scalar,
    web_event,
)

import weir
from weir.errors import NotFoundError
from weir.ingest.status import SourceStatus


def table_snapshots(project: weir.Project) -> dict[str, int]:
    return {
        f"{layer}.{name}": len(project.lake.snapshots(layer, name))
        for layer, name in project.lake.tables()
    }


def status_of(project: weir.Project, source: str) -> SourceStatus:
    [status] = [s for s in project.sources.status() if s.source == source]
    return status


# -- duplicates ------------------------------------------------------------------------------
def test_duplicates_within_a_batch_and_across_batches(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("t1"),
            pos_line("t2"),
            pos_line("t1"),
            pos_line("t1", quantity=5),
        ),
    )
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store002.csv",
        pos_csv(pos_line("t2", store_id=2), pos_line("t3")),
    )
    first = ingest_one(project, "pos")
    assert_counts(first, received=6, accepted=3, quarantined=0, duplicates=3)
    # the first record of a key wins, in file order then line order
    assert rows(
        project, "SELECT transaction_id, quantity, store_id FROM staging.pos ORDER BY 1"
    ) == [
        {"transaction_id": "t1", "quantity": 1, "store_id": 1},
        {"transaction_id": "t2", "quantity": 1, "store_id": 1},
        {"transaction_id": "t3", "quantity": 1, "store_id": 1},
    ]
    land(
        project_root, "pos", "pos_2025-01-02_store001.csv", pos_csv(pos_line("t3"), pos_line("t4"))
    )
    second = ingest_one(project, "pos")
    assert_counts(second, received=2, accepted=1, quarantined=0, duplicates=1)
    assert scalar(project, "SELECT count(*) FROM staging.pos") == 4
    # raw keeps every record as received, with its fate
    assert rows(project, "SELECT _status, count(*) AS n FROM raw.pos GROUP BY 1 ORDER BY 1") == [
        {"_status": "accepted", "n": 4},
        {"_status": "duplicate", "n": 4},
    ]


def test_an_invalid_record_does_not_take_a_key(project_root: Path, project: weir.Project) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("t1", quantity="abc"),
            pos_line("t1", quantity=2),
        ),
    )
    assert_counts(ingest_one(project, "pos"), received=2, accepted=1, quarantined=1, duplicates=0)
    assert scalar(project, "SELECT quantity FROM staging.pos") == 2


def test_resending_the_same_file_stores_nothing_new(
    project_root: Path, project: weir.Project
) -> None:
    path = land(
        project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1"), "broken")
    )
    assert_counts(ingest_one(project, "pos"), received=2, accepted=1, quarantined=1, duplicates=0)
    before = table_snapshots(project)
    batches = len(project.ledger.batches("pos"))
    assert before == {"quarantine.pos": 1, "raw.pos": 1, "staging.pos": 1}

    again = ingest_one(project, "pos")
    assert (again.batch_id, again.files, again.skipped_files) == (None, 0, 1)
    assert_counts(again, received=0, accepted=0, quarantined=0, duplicates=0)

    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, same bytes
    assert ingest_one(project, "pos").skipped_files == 1
    assert table_snapshots(project) == before
    assert len(project.ledger.batches("pos")) == batches
    assert scalar(project, "SELECT count(*) FROM raw.pos") == 2


def test_a_folder_with_no_file_of_the_source_pattern_is_an_error(
    tmp_path: Path, project: weir.Project
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for day in range(1, 8):
        (exports / f"orders_2025-01-0{day}.csv").write_text("order_id\nW1\n", encoding="utf-8")
    with pytest.raises(NotFoundError) as raised:
        project.sources.ingest(["orders"], exports)
    error = raised.value
    assert error.what == (
        f"no file under {exports} matches *.xml, the file pattern of source orders; it holds "
        "7 other files: orders_2025-01-01.csv, orders_2025-01-02.csv, orders_2025-01-03.csv, "
        "orders_2025-01-04.csv, orders_2025-01-05.csv, …"
    )
    assert error.fix is not None and "landing/orders/*.xml" in error.fix
    assert "sources/orders.yml" in error.fix
    assert project.lake.tables() == []  # nothing was written

    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(NotFoundError, match="orders; the folder holds no file"):
        project.sources.ingest(["orders"], empty)
    # every source asked for, none with a file there: one error naming every pattern
    (empty / "notes.txt").write_text("not data\n", encoding="utf-8")
    with pytest.raises(NotFoundError, match=r"any source \(.*orders: \*\.xml.*1 other file: notes"):
        project.sources.ingest(None, empty)


def test_a_folder_of_files_already_taken_in_is_not_an_error(
    tmp_path: Path, project: weir.Project
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "pos_2025-01-01_store001.csv").write_text(pos_csv(pos_line("t1")), encoding="utf-8")
    [first] = project.sources.ingest(["pos"], exports)
    assert_counts(first, received=1, accepted=1, quarantined=0, duplicates=0)
    [again] = project.sources.ingest(["pos"], exports)
    assert (again.batch_id, again.files, again.skipped_files) == (None, 0, 1)
    # every source asked for: only those with files under the folder are ingested
    ingested = {r.source for r in project.sources.ingest(None, exports)}
    assert "pos" in ingested and "orders" not in ingested and "web_traffic" not in ingested


def test_a_changed_file_under_the_same_name_is_a_new_batch(
    project_root: Path, project: weir.Project
) -> None:
    path = land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1")))
    ingest_one(project, "pos")
    path.write_text(pos_csv(pos_line("t1"), pos_line("t2")), encoding="utf-8")
    result = ingest_one(project, "pos")
    assert (result.files, result.skipped_files) == (1, 0)
    assert_counts(result, received=2, accepted=1, quarantined=0, duplicates=1)


PRODUCTS = "product_id,name,type,color,size,material,cost_price,list_price,launched_on\n"


def product(product_id: int, cost: str, name: str = "Trail 20") -> str:
    return f"{product_id},{name},Backpack,Green,M,Nylon,{cost},59.00,2024-03-01\n"


def test_entity_sources_keep_one_row_per_key_per_extract_date(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "products",
        "products_2025-01-01.csv",
        PRODUCTS + product(1, "20.00") + product(2, "30.00"),
    )
    land(
        project_root,
        "products",
        "products_2025-01-02.csv",
        PRODUCTS + product(1, "21.50") + product(2, "30.00") + product(2, "31.00"),
    )
    assert_counts(
        ingest_one(project, "products"), received=5, accepted=4, quarantined=0, duplicates=1
    )
    assert rows(
        project,
        "SELECT product_id, _extract_date::VARCHAR AS day, cost_price FROM staging.products "
        "ORDER BY 1, 2",
    ) == [
        {"product_id": 1, "day": "2025-01-01", "cost_price": 20.0},
        {"product_id": 1, "day": "2025-01-02", "cost_price": 21.5},
        {"product_id": 2, "day": "2025-01-01", "cost_price": 30.0},
        {"product_id": 2, "day": "2025-01-02", "cost_price": 30.0},
    ]
    # the same day's extract sent again under another name adds nothing
    land(project_root, "products", "products_2025-01-02_resent.csv", PRODUCTS + product(1, "21.50"))
    assert_counts(
        ingest_one(project, "products"), received=1, accepted=0, quarantined=0, duplicates=1
    )
    land(project_root, "products", "products_2025-01-03.csv", PRODUCTS + product(1, "22.00"))
    assert_counts(
        ingest_one(project, "products"), received=1, accepted=1, quarantined=0, duplicates=0
    )
    assert scalar(project, "SELECT count(*) FROM staging.products WHERE product_id = 1") == 3


def test_a_missing_event_id_is_replaced_by_a_content_hash(
    project_root: Path, project: weir.Project
) -> None:
    anonymous = web_event(None, page="/cart")
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T10.jsonl",
        jsonl(
            anonymous,
            anonymous,
            web_event(None, page="/cart", timestamp=T0 + 1),
            web_event("e1"),
        ),
    )
    assert_counts(
        ingest_one(project, "web_traffic"), received=4, accepted=3, quarantined=0, duplicates=1
    )
    ids = [
        r["event_id"]
        for r in rows(project, "SELECT event_id FROM staging.web_traffic ORDER BY _record_id")
    ]
    assert ids[2] == "e1"
    assert all(i.startswith("h_") and len(i) == 34 for i in ids[:2]) and ids[0] != ids[1]
    # the same event again, in a later file: a duplicate of the stored one
    land(project_root, "web_traffic", "web_2025-01-01T11.jsonl", jsonl(anonymous))
    assert_counts(
        ingest_one(project, "web_traffic"), received=1, accepted=0, quarantined=0, duplicates=1
    )
    assert scalar(project, "SELECT count(*) FROM staging.web_traffic") == 3


# -- replay ---------------------------------------------------------------------------------------
def test_replay_after_the_contract_learns_a_new_value(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T10.jsonl",
        jsonl(
            web_event("e1", device_type="SmartTV"),
            web_event("e2", device_type="SmartTV", browser="Opera"),  # breaks a second rule too
            web_event("e3"),
            web_event("e4", device_type="SmartTV"),
            "{not json",
        ),
    )
    assert_counts(
        ingest_one(project, "web_traffic"), received=5, accepted=1, quarantined=4, duplicates=0
    )
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T11.jsonl",
        jsonl(web_event("e4", device_type="Mobile")),
    )
    assert_counts(
        ingest_one(project, "web_traffic"), received=1, accepted=1, quarantined=0, duplicates=0
    )

    edit_source(
        project_root,
        "web_traffic",
        "enum: [Desktop, Mobile, Tablet]",
        "enum: [Desktop, Mobile, Tablet, SmartTV]",
    )
    with weir.Project(project_root) as reopened:
        result = reopened.sources.replay("web_traffic")
        assert result.batch_id is not None and result.files == 0
        # e1 passes now; e4's key is in staging already: a duplicate; e2 and the bad line stay
        assert (
            result.counts.received,
            result.counts.accepted,
            result.counts.duplicates,
            result.counts.quarantined,
            result.counts.released,
        ) == (4, 1, 1, 2, 2)
        assert rows(
            reopened, "SELECT event_id, device_type FROM staging.web_traffic ORDER BY 1"
        ) == [
            {"event_id": "e1", "device_type": "SmartTV"},
            {"event_id": "e3", "device_type": "Desktop"},
            {"event_id": "e4", "device_type": "Mobile"},
        ]
        held = rows(
            reopened, "SELECT event_id, _reasons FROM quarantine.web_traffic ORDER BY _offset"
        )
        assert held == [
            {
                "event_id": "e2",
                "_reasons": ["browser: 'Opera' is not one of Chrome, Safari, Firefox, Edge, App"],
            },
            {"event_id": None, "_reasons": ["malformed JSON: the line does not parse"]},
        ]
        # the replayed record keeps its identity and arrival time
        [moved] = rows(
            reopened,
            "SELECT _record_id, _received_at, _batch_id FROM staging.web_traffic "
            "WHERE event_id = 'e1'",
        )
        [arrived] = rows(
            reopened, "SELECT _record_id, _received_at FROM raw.web_traffic WHERE event_id = 'e1'"
        )
        assert (moved["_record_id"], moved["_received_at"]) == (
            arrived["_record_id"],
            arrived["_received_at"],
        )
        assert moved["_batch_id"] == result.batch_id

        status = status_of(reopened, "web_traffic")
        assert_reconciles(status.totals)
        assert (
            status.totals.received,
            status.totals.accepted,
            status.totals.quarantined,
            status.totals.duplicates,
        ) == (6, 3, 2, 1)
        assert status.held == 2

        snapshots = table_snapshots(reopened)
        again = reopened.sources.replay("web_traffic")
        assert (again.counts.accepted, again.counts.duplicates, again.counts.released) == (0, 0, 0)
        assert table_snapshots(reopened) == snapshots
        assert status_of(reopened, "web_traffic").totals == status.totals


def test_replay_of_a_source_never_ingested_does_nothing(project: weir.Project) -> None:
    result = project.sources.replay("web_traffic")
    assert result.batch_id is None and result.counts.received == 0


# -- a crash between the table commits --------------------------------------------------------------
CRASHING_INGEST = "import sys, weir; weir.Project(sys.argv[1]).sources.ingest(['pos'])"


def crash_while_ingesting(root: Path, at: str) -> None:
    env = {**os.environ, "WEIR_CRASH_AT": at}
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_INGEST, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 137, done.stderr


@pytest.mark.parametrize(
    ("crash_at", "earlier_batch"),
    [
        ("raw", True),
        ("ledger", True),
        ("ledger", False),
    ],
)
def test_a_batch_cut_short_by_a_crash_is_rolled_back_and_redone(
    project_root: Path, crash_at: str, earlier_batch: bool
) -> None:
    expected = {"t1", "t2", "t3"}
    if earlier_batch:
        land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t0"), "bad-0"))
        with weir.Project(project_root) as project:
            ingest_one(project, "pos")
        expected.add("t0")
    land(
        project_root,
        "pos",
        "pos_2025-01-02_store001.csv",
        pos_csv(
            pos_line("t1"),
            pos_line("t2"),
            pos_line("t1"),
            pos_line("t3"),
            "bad-1",
        ),
    )
    crash_while_ingesting(project_root, crash_at)

    lake = project_root / ".weir" / "lake"
    with weir.Project(project_root) as project:
        [pending] = [b for b in project.ledger.batches("pos") if b.status == "pending"]
        assert list(lake.glob(f"*/*/data/{pending.batch_id}"))  # the crash left its files
        result = ingest_one(project, "pos")
        assert_counts(result, received=5, accepted=3, quarantined=1, duplicates=1)
        assert project.ledger.batch(pending.batch_id).status == "aborted"
        assert not list(lake.glob(f"*/*/data/{pending.batch_id}"))  # rolled back with its files
        assert [b.status for b in project.ledger.batches("pos")].count(
            "committed"
        ) == 1 + earlier_batch

        staged = rows(project, "SELECT transaction_id FROM staging.pos")
        assert sorted(r["transaction_id"] for r in staged) == sorted(expected)
        raw = rows(project, "SELECT _raw, transaction_id, _batch_id FROM raw.pos")
        assert len(raw) == 5 + 2 * earlier_batch  # every record received once, none twice
        assert pending.batch_id not in {r["_batch_id"] for r in raw}
        held = rows(project, "SELECT _raw FROM quarantine.pos ORDER BY 1")
        assert held == ([{"_raw": "bad-0"}] if earlier_batch else []) + [{"_raw": "bad-1"}]

        status = status_of(project, "pos")
        assert_reconciles(status.totals)
        assert status.totals.received == 5 + 2 * earlier_batch
        assert status.held == 1 + earlier_batch


def test_the_status_kept_between_batches_follows_each_new_one(
    project_root: Path, project: weir.Project
) -> None:
    land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1")))
    ingest_one(project, "pos")
    first = status_of(project, "pos")
    assert status_of(project, "pos") == first  # asked again with nothing new: the same
    assert (first.batches, first.totals.received) == (1, 1)
    land(project_root, "pos", "pos_2025-01-02_store001.csv", pos_csv(pos_line("t2"), "bad"))
    ingest_one(project, "pos")
    second = status_of(project, "pos")
    assert (second.batches, second.totals.received, second.held) == (2, 3, 1)
    # a batch started and left pending (by another process) is seen too
    project.ledger.start("by-another-process", "pos", "ingest", time.time())
    assert status_of(project, "pos").last_batch.batch_id == "by-another-process"  # type: ignore[union-attr]


# -- time travel --------------------------------------------------------------------------------
def moment() -> datetime:
    time.sleep(0.02)  # snapshots are stamped in milliseconds
    now = datetime.now(UTC)
    time.sleep(0.02)
    return now


def test_time_travel(project_root: Path, project: weir.Project) -> None:
    before_any = moment()
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(pos_line("t1"), pos_line("t2"), "bad"),
    )
    ingest_one(project, "pos")
    between = moment()
    land(project_root, "pos", "pos_2025-01-02_store001.csv", pos_csv(pos_line("t3"), "worse"))
    ingest_one(project, "pos")

    count = (
        "SELECT (SELECT count(*) FROM staging.pos) AS staged, (SELECT count(*) FROM raw.pos) AS raw, "
        "(SELECT count(*) FROM quarantine.pos) AS held"
    )
    assert rows(project, count) == [{"staged": 3, "raw": 5, "held": 2}]
    assert rows(project, count, as_of=between) == [{"staged": 2, "raw": 3, "held": 1}]
    assert rows(project, count, as_of=between.isoformat()) == [{"staged": 2, "raw": 3, "held": 1}]
    assert rows(project, count, as_of=before_any) == [{"staged": 0, "raw": 0, "held": 0}]
    # naive times are local times
    local = between.astimezone().replace(tzinfo=None)
    assert rows(project, count, as_of=local) == [{"staged": 2, "raw": 3, "held": 1}]

    first_staging, second_staging = project.snapshots("staging.pos")
    assert first_staging.batch_id != second_staging.batch_id
    assert (
        scalar(project, "SELECT count(*) FROM staging.pos", snapshot=first_staging.snapshot_id) == 2
    )
    assert (
        scalar(project, "SELECT count(*) FROM staging.pos", snapshot=second_staging.snapshot_id)
        == 3
    )
    assert sorted(
        r["transaction_id"]
        for r in rows(
            project, "SELECT transaction_id FROM staging.pos", snapshot=first_staging.snapshot_id
        )
    ) == ["t1", "t2"]
    # the other tables are read as of that snapshot's time
    assert scalar(project, "SELECT count(*) FROM raw.pos", snapshot=first_staging.snapshot_id) == 3


def test_unknown_snapshot_is_not_found(project_root: Path, project: weir.Project) -> None:
    land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1")))
    ingest_one(project, "pos")
    with pytest.raises(NotFoundError, match="no lake table has snapshot 12345"):
        project.sql("SELECT 1", snapshot=12345)


def test_snapshots_are_tagged_with_their_batch(project_root: Path, project: weir.Project) -> None:
    land(project_root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1"), "bad"))
    result = ingest_one(project, "pos")
    for table in ("raw.pos", "quarantine.pos", "staging.pos"):
        [snapshot] = project.snapshots(table)
        assert snapshot.batch_id == result.batch_id
        assert snapshot.summary["weir.source"] == "pos"
        assert "landing/pos/pos_2025-01-01_store001.csv" in snapshot.summary["weir.files"]
        assert snapshot.committed_at > datetime.now(UTC) - timedelta(minutes=5)
    assert project.ledger.batch(result.batch_id).snapshots.keys() == {
        "raw.pos",
        "quarantine.pos",
        "staging.pos",
    }


# -- replay of records kept whole ----------------------------------------------------------------
POS_HEADER_RENAMED = POS_HEADER.replace("discount_applied", "discount")


def test_replay_maps_a_renamed_column_once_the_contract_follows(
    project_root: Path, project: weir.Project
) -> None:
    renamed = pos_csv(
        pos_line("R1", discount_applied="1.0"),
        pos_line("R2", card_number="4111 1111 1111 1112"),  # not Luhn-valid: tokenised all the same
        header=POS_HEADER_RENAMED,
    )
    land(project_root, "pos", "pos_2025-01-02_store001.csv", renamed)
    assert_counts(ingest_one(project, "pos"), received=2, accepted=0, quarantined=2, duplicates=0)
    held = rows(
        project, "SELECT transaction_id, _raw, _reasons FROM quarantine.pos ORDER BY _offset"
    )
    # the fields that map are filled; the whole record is kept as JSON with its card tokenised
    assert [h["transaction_id"] for h in held] == ["R1", "R2"]
    assert all("renamed from 'discount_applied'" in h["_reasons"][0] for h in held)
    assert "4111 1111 1111 1112" not in held[1]["_raw"] and '"card_number":"tok_' in held[1]["_raw"]

    # the same replay with an unchanged contract releases nothing
    unchanged = project.sources.replay("pos")
    assert (unchanged.counts.accepted, unchanged.counts.quarantined) == (0, 2)

    edit_source(project_root, "pos", "name: discount_applied,", "name: discount,")
    edit_source(
        project_root,
        "pos",
        "discount_applied IS NULL OR discount_applied <= revenue",
        "discount IS NULL OR discount <= revenue",
    )
    with weir.Project(project_root) as reopened:
        result = reopened.sources.replay("pos")
        assert (result.counts.received, result.counts.accepted, result.counts.quarantined) == (
            2,
            2,
            0,
        )
        staged = rows(
            reopened, "SELECT transaction_id, discount, card_number FROM staging.pos ORDER BY 1"
        )
        assert [(s["transaction_id"], s["discount"]) for s in staged] == [("R1", 1.0), ("R2", None)]
        assert staged[1]["card_number"].startswith("tok_")
        assert rows(reopened, "SELECT count(*) AS n FROM quarantine.pos") == [{"n": 0}]


def test_replay_after_the_contract_gains_a_column(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T10.jsonl",
        jsonl(web_event("e1", campaign="spring")),
    )
    assert_counts(
        ingest_one(project, "web_traffic"), received=1, accepted=0, quarantined=1, duplicates=0
    )
    [held] = rows(project, "SELECT _reasons FROM quarantine.web_traffic")
    assert held["_reasons"] == [
        "unknown field 'campaign': add it to the contract or drop it from the export"
    ]
    edit_source(
        project_root,
        "web_traffic",
        "  - {name: timestamp,",
        "  - {name: campaign, type: string}\n  - {name: timestamp,",
    )
    with weir.Project(project_root) as reopened:
        result = reopened.sources.replay("web_traffic")
        assert (result.counts.accepted, result.counts.quarantined) == (1, 0)
        assert rows(reopened, "SELECT event_id, campaign FROM staging.web_traffic") == [
            {"event_id": "e1", "campaign": "spring"}
        ]


def test_a_landing_folder_is_read_by_each_source_own_folder(
    tmp_path: Path, project: weir.Project
) -> None:
    """Ingesting every source from a folder laid out as the landing (one folder per source):
    a source takes the files of its own folder only, although another source's folder holds
    files of the same pattern (the carrier API's parcel_hops.jsonl beside the CRM's
    *.jsonl), and a source with no folder there takes none (device_events, also *.jsonl);
    a folder of loose files is still read by name."""
    landing = tmp_path / "landing"
    crm = landing / "crm_interactions"
    crm.mkdir(parents=True)
    (crm / "crm_interactions_2025-01-01.jsonl").write_text(
        '{"event_id": "E1", "customer_id": 7, "interaction_type": "Feedback",'
        ' "timestamp": "2025-01-01T10:00:00Z"}\n',
        encoding="utf-8",
    )
    (landing / "carrier_api").mkdir()
    (landing / "carrier_api" / "parcel_hops.jsonl").write_text(
        '{"seq": 1, "parcel_id": "P1", "hop_number": 1}\n' * 5, encoding="utf-8"
    )
    [result] = project.sources.ingest(["crm_interactions"], landing)
    assert (result.files, result.counts.received) == (1, 1)
    assert scalar(project, "SELECT count(*) FROM raw.crm_interactions") == 1
    # every source from the landing: those with no folder of their own there take nothing
    taken = {r.source: r.counts.received for r in project.sources.ingest(path=landing)}
    assert taken == {"crm_interactions": 0}
    assert "device_events" not in {name for _, name in project.lake.tables()}

    loose = tmp_path / "downloads"
    loose.mkdir()
    (loose / "crm_interactions_2025-01-02.jsonl").write_text(
        '{"event_id": "E2", "customer_id": 8, "interaction_type": "Loyalty",'
        ' "timestamp": "2025-01-02T10:00:00Z"}\n',
        encoding="utf-8",
    )
    [result] = project.sources.ingest(["crm_interactions"], loose)
    assert (result.files, result.counts.received) == (1, 1)
