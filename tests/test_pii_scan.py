"""The catalog scan on a small hand-made table: the exact findings, kept as counts only.

Four CRM interactions are ingested: one with an e-mail in its message (a
column classified pii: found, not flagged), one with an e-mail, one with a
card number and one with a phone number in ``case_id`` (unclassified:
flagged). The scan samples every table; the findings are worked out by hand
below, the metadata database and the audit log hold none of the values, the
catalog (library, API and web page) marks the column, and a ``pii_found``
alert rule fires for it and resolves once a later scan no longer flags it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import NewDatabase, crm_event, jsonl, land
from test_api import Client
from test_subjects import set_catalog
from test_web import CHEAP_ARGON2, PASSWORD, signed_in

import weir
from weir.cli.main import cli
from weir.errors import NotFoundError, QueryError
from weir.lifecycle.holds import HeldError
from weir.serve.app import create_app

EMAIL = "ann.lee@example.com"
LEAKED = "bob@example.org"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"
VALUES = [EMAIL, LEAKED, CARD, CARD.replace(" ", ""), PHONE]
TABLES = ("quarantine.crm_interactions", "raw.crm_interactions", "staging.crm_interactions")
RULE = "    - {name: personal_data, kind: pii_found, channels: [log], renotify: null}\n"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[weir.Project]:
    root = weir.init_project(tmp_path_factory.mktemp("scan") / "shop")
    config = root / "weir.yml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("  rules:\n", "  rules:\n" + RULE, 1),
        encoding="utf-8",
    )
    land(
        root,
        "crm_interactions",
        "crm_2025-01-01.jsonl",
        jsonl(
            crm_event("e1", message_excerpt=f"Please reply to {EMAIL}", case_id="C-1"),
            crm_event("e2", message_excerpt="fine", case_id=LEAKED),
            crm_event("e3", message_excerpt="ok", case_id=CARD),
            crm_event("e4", message_excerpt="call me", case_id=PHONE),
        ),
    )
    with weir.Project(root) as project:
        project.sources.ingest(["crm_interactions"])
        yield project


def test_the_scan_finds_exactly_what_was_put_there(scanned: weir.Project) -> None:
    result = scanned.catalog.scan(sample=100)
    # quarantine's table is there, empty: every record passed its contract
    assert result.datasets == TABLES
    assert result.rows == 8  # 4 rows in raw and staging each, all sampled
    got = {
        (f.dataset, f.column, f.kind): (f.matches, f.sampled, f.flagged) for f in result.findings
    }
    expected = {}
    for table in TABLES[1:]:
        # the message is classified pii: its e-mail is found and expected there
        expected[(table, "message_excerpt", "email")] = (1, 4, False)
        # case_id is not classified: one e-mail, one card, one phone, each flagged
        expected[(table, "case_id", "email")] = (1, 4, True)
        expected[(table, "case_id", "card")] = (1, 4, True)
        expected[(table, "case_id", "phone")] = (1, 4, True)
    assert got == expected
    confidence = {(f.column, f.kind): f.confidence for f in result.findings}
    # one match each: weight * 0.5 (e-mail and card 0.95, phone 0.6)
    assert confidence[("case_id", "card")] == 0.475
    assert confidence[("case_id", "phone")] == 0.3
    assert [f.kind for f in scanned.catalog.findings() if f.dataset == "raw.crm_interactions"] == [
        "card",
        "email",
        "phone",
    ]
    assert len(scanned.catalog.findings(all_kinds=True)) == 8


def test_no_sampled_value_is_kept_or_logged(scanned: weir.Project) -> None:
    scanned.catalog.scan()
    with scanned.store.begin() as db:
        findings = db.execute(sa.text("SELECT * FROM weir_pii_findings")).all()
        scans = db.execute(sa.text("SELECT * FROM weir_pii_scans")).all()
        audit = db.execute(
            sa.text("SELECT action, detail FROM weir_audit WHERE kind = 'catalog.scan'")
        ).all()
    assert findings and scans and audit
    kept = json.dumps([[list(r) for r in t] for t in (findings, scans, audit)]).lower()
    assert not [v for v in VALUES if v.lower() in kept]
    [record] = scanned.audit.records(kind="catalog.scan", limit=1)
    assert record.entry.datasets == TABLES
    assert record.entry.rows == 8


def test_bad_input_is_a_clear_error(scanned: weir.Project) -> None:
    with pytest.raises(NotFoundError, match=r"raw\.crm_interaction"):
        scanned.catalog.scan(["raw.crm_interaction"])
    with pytest.raises(QueryError, match="out of range"):
        scanned.catalog.scan(sample=0)


def test_the_catalog_and_its_api_mark_the_column(scanned: weir.Project) -> None:
    scanned.catalog.scan()
    api = Client(scanned)
    _, admin = scanned.access.tokens().create("ada", "admin")
    _, support = scanned.access.tokens().create("sue", "support")
    detail = api.get(
        "/api/v1/datasets/raw.crm_interactions", headers={"Authorization": f"Bearer {admin}"}
    ).json()
    columns = {c["name"]: c for c in detail["columns"]}
    assert [f["kind"] for f in columns["case_id"]["findings"]] == ["card", "email", "phone"]
    assert columns["case_id"]["findings"][0] == {
        "kind": "card",
        "matches": 1,
        "sampled": 4,
        "confidence": 0.475,
    }
    assert columns["message_excerpt"]["findings"] == []  # classified: not flagged
    listed = api.get("/api/v1/catalog/findings", headers={"Authorization": f"Bearer {admin}"})
    assert listed.status_code == 200
    assert {(f["dataset"], f["column"]) for f in listed.json()["findings"]} == {
        ("raw.crm_interactions", "case_id"),
        ("staging.crm_interactions", "case_id"),
    }
    assert not [v for v in VALUES if v in listed.text]
    # a role that may not read those tables sees no finding of theirs
    hidden = api.get("/api/v1/catalog/findings", headers={"Authorization": f"Bearer {support}"})
    assert hidden.status_code == 200 and hidden.json()["findings"] == []


def test_the_cli_scans_and_lists(scanned: weir.Project) -> None:
    runner = CliRunner()
    root = str(scanned.root)
    scan = runner.invoke(cli, ["--project", root, "catalog", "scan", "--sample", "50"])
    assert scan.exit_code == 0, scan.output
    assert "scanned 3 table(s), 8 sampled row(s): 8 finding(s), 6 in columns not classified" in (
        " ".join(scan.output.split())
    )
    listed = runner.invoke(cli, ["--project", root, "catalog", "findings", "--format", "json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert len(rows) == 6 and {r["column"] for r in rows} == {"case_id"}
    assert not [v for v in VALUES if v in scan.output + listed.output]
    wrong = runner.invoke(cli, ["--project", root, "catalog", "scan", "--dataset", "raw.nope"])
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output


def test_a_pii_found_rule_fires_then_resolves(scanned: weir.Project) -> None:
    scanned.catalog.scan()
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = scanned.alerts.evaluate(now)
    opened = {i.subject: i for i in first.opened if i.rule == "personal_data"}
    assert set(opened) == {"raw.crm_interactions.case_id", "staging.crm_interactions.case_id"}
    incident = opened["raw.crm_interactions.case_id"]
    assert incident.severity == "error"  # a card number among them
    assert "card in 1 of 4 sampled values" in incident.message
    assert not [v for v in VALUES if v in incident.message]
    # a later scan that flags nothing (as after classifying the column) resolves both
    with scanned.store.begin() as db:
        db.execute(sa.text("UPDATE weir_pii_findings SET flagged = :no"), {"no": False})
    later = scanned.alerts.evaluate(now.replace(hour=10))
    assert {i.subject for i in later.resolved if i.rule == "personal_data"} == set(opened)


def test_the_web_catalog_marks_the_column(scanned: weir.Project) -> None:
    scanned.catalog.scan()
    scanned.signin.hasher = CHEAP_ARGON2
    scanned.signin.set_password("ada", PASSWORD)
    browser = signed_in(create_app(scanned), "ada")
    page = browser.get("/catalog/raw.crm_interactions")
    assert page.status_code == 200
    row = re.search(r'<tr data-column="case_id".*?</tr>', page.text, flags=re.S)
    assert row is not None
    assert 'data-finding="card"' in row.group() and "looks like card: 1/4" in row.group()
    message = re.search(r'<tr data-column="message_excerpt".*?</tr>', page.text, flags=re.S)
    assert message is not None and "data-finding" not in message.group()
    assert not [v for v in VALUES if v in page.text]


def test_on_postgresql_metadata(tmp_path: Path, new_database: NewDatabase) -> None:
    """The findings and the subject holds kept on PostgreSQL (the lake is the same on either)."""
    root = weir.init_project(tmp_path / "shop")
    set_catalog(root, new_database())
    land(root, "crm_interactions", "crm_2025-01-01.jsonl", jsonl(crm_event("e1", case_id=CARD)))
    with weir.Project(root) as project:
        project.sources.ingest(["crm_interactions"])
        project.catalog.scan()
        flagged = [(f.dataset, f.column, f.kind) for f in project.catalog.findings()]
        assert flagged == [
            ("raw.crm_interactions", "case_id", "card"),
            ("staging.crm_interactions", "case_id", "card"),
        ]
        hold = project.lifecycle.holds.add_subject(project.subjects.resolve(7), "claim 114")
        with pytest.raises(HeldError):
            project.subjects.erase(project.subjects.resolve(7), "GDPR art. 17")
        assert project.lifecycle.holds.for_subject(project.subjects.resolve(7)) == hold
