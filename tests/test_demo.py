"""The demo end to end: generated retailer → ingestion that matches the manifest exactly."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import weir
from weir.cli.main import cli
from weir.demo.tour import DemoTour, connected, run_demo
from weir.ingest.pci import luhn_valid


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> DemoTour:
    return run_demo(tmp_path_factory.mktemp("demo") / "shop", days=4, scale=0.08, seed=3)


def test_every_source_reconciles_with_the_manifest(tour: DemoTour) -> None:
    assert {r.source for r in tour.results} == set(tour.manifest.sources)
    for result in tour.results:
        expected = tour.manifest.sources[result.source]
        c = result.counts
        assert (result.files, c.received, c.accepted, c.quarantined, c.duplicates) == (
            expected.files,
            expected.received,
            expected.accepted,
            expected.quarantined,
            expected.duplicates,
        ), result.source
    assert tour.reconciled


def test_the_lake_holds_exactly_what_the_batches_counted(tour: DemoTour) -> None:
    with weir.Project(tour.project) as project:
        for status in project.sources.status():
            if status.source not in tour.manifest.sources:  # stream-only: nothing landed
                assert status.totals.received == 0 and status.last_batch is None
                continue
            expected = tour.manifest.sources[status.source]
            name = status.source
            [raw] = project.sql(f"SELECT count(*) AS n FROM raw.{name}").to_pylist()
            [staged] = project.sql(f"SELECT count(*) AS n FROM staging.{name}").to_pylist()
            [held] = project.sql(f"SELECT count(*) AS n FROM quarantine.{name}").to_pylist()
            assert (raw["n"], staged["n"], held["n"]) == (
                expected.received,
                expected.accepted,
                expected.quarantined,
            )
            assert status.totals.reconciles() and status.held == expected.quarantined


def test_ingesting_again_stores_nothing_new(tour: DemoTour) -> None:
    with weir.Project(tour.project) as project, connected(tour.project / "landing"):
        before = {t: len(project.lake.snapshots(*t)) for t in project.lake.tables()}
        results = project.sources.ingest(list(tour.manifest.sources))
        for r in results:
            if r.source == "purchase_orders":
                # the database source's lookback reads the newest changes again: duplicates only
                assert r.counts.accepted == r.counts.quarantined == 0, r.counts
                assert r.counts.received == r.counts.duplicates
            else:
                assert r.batch_id is None and r.files == 0 and r.skipped_files > 0, r.source
        after = {t: len(project.lake.snapshots(*t)) for t in project.lake.tables()}
        after.pop(("raw", "purchase_orders"))  # raw keeps every record as received
        before.pop(("raw", "purchase_orders"))
        assert after == before


def _generated_card_numbers(landing: Path) -> set[str]:
    cards: set[str] = set()
    for path in (landing / "pos").glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                cards.update(v for v in row if re.fullmatch(r"[0-9]{13,19}", v) and luhn_valid(v))
    for path in (landing / "crm_interactions").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            for run in re.findall(r"[0-9](?:[ -]?[0-9]){12,18}", line):
                digits = re.sub(r"[^0-9]", "", run)
                if luhn_valid(digits):
                    cards.add(digits)
    return cards


def test_no_generated_card_number_is_anywhere_in_the_state_folder(tour: DemoTour) -> None:
    cards = _generated_card_numbers(tour.project / "landing")
    assert len(cards) > 50  # the generator did write card numbers, in columns and in free text
    blobs = [p.read_bytes() for p in (tour.project / ".weir").rglob("*") if p.is_file()]
    assert blobs
    for card in cards:
        spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4)).encode()
        for blob in blobs:
            assert card.encode() not in blob and spaced not in blob
    # and the columns hold tokens with the last four digits beside them
    with weir.Project(tour.project) as project:
        [sample] = project.sql(
            "SELECT card_number, card_number_last4 FROM staging.pos WHERE card_number IS NOT NULL LIMIT 1"
        ).to_pylist()
    assert sample["card_number"].startswith("tok_") and len(sample["card_number_last4"]) == 4


def test_the_cli_reads_the_demo(tour: DemoTour) -> None:
    runner = CliRunner()
    status = runner.invoke(cli, ["--project", str(tour.project), "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    rows = json.loads(status.output)
    assert {r["source"] for r in rows} == set(tour.manifest.sources) | {"device_events"}
    assert all(r["reconciles"] for r in rows)
    listed = runner.invoke(
        cli, ["--project", str(tour.project), "quarantine", "list", "--format", "json"]
    )
    reasons = json.loads(listed.output)
    assert (
        sum(r["records"] for r in reasons if r["source"] == "pos")
        >= tour.manifest.sources["pos"].quarantined
    )


def test_the_demo_ends_with_one_customer_erased(tour: DemoTour) -> None:
    assert tour.erased is not None and tour.erasure is not None
    certificate = tour.erasure.as_dict()
    assert tour.erasure.verified and certificate["rows"] > 0
    line = tour.erasure.summary()
    assert line.startswith(f"erasure {certificate['erasure']} of a customer: ")
    assert line.endswith("no copy found — certified")
    with weir.Project(tour.project) as project:
        # the customer bought and browsed nothing: the sales and web tables were not rewritten
        tables = {t["table"] for t in certificate["tables"]}
        assert not {t for t in tables if t.endswith((".pos", ".orders", ".web_traffic"))}
        assert "staging.customers" in tables
        found = project.subjects.find(project.subjects.resolve(tour.erased))
        assert found.rows == 0 and found.erased is not None and found.erased["state"] == "done"
        # the example keeps retention rules: the plan reads them
        assert project.files.config.retention.configured
        project.lifecycle.plan()


def test_the_scan_finds_the_emails_in_support_messages(tour: DemoTour) -> None:
    with weir.Project(tour.project) as project:
        result = project.catalog.scan(["staging.crm_interactions"], sample=5000)
    emails = [f for f in result.findings if (f.column, f.kind) == ("message_excerpt", "email")]
    assert emails and emails[0].matches > 0
    # the contract classifies the message pii: found, and expected there
    assert not emails[0].flagged and emails[0].classification == "pii"
