"""The deliverability example end to end: init, generate into PostgreSQL, ingest every source.

``weir init --example deliverability``, then ``weir generate --example deliverability``
loads the sent e-mails and their events into a fresh PostgreSQL database and writes
the suppression list (SQLite), the CRM's records (served by its local REST API) and
the clients' workbooks; every source is ingested, each batch reconciled with the
generator's manifest and with the lake, the models built and a KPI asked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NewDatabase

import weir
from weir.cli.main import cli
from weir.demo.deliverability import (
    CRM_TOKEN,
    ENV_CRM_TOKEN,
    ENV_CRM_URL,
    ENV_DATABASE_URL,
    ENV_SUPPRESSIONS_URL,
    SOURCES,
    serve_crm,
)
from weir.demo.generate.manifest import Manifest
from weir.errors import WeirError
from weir.governance.policy import Principal
from weir.ingest import BatchResult

END = date(2026, 3, 15)
DAYS = 5


@dataclass
class Ingested:
    root: Path
    project: weir.Project
    manifest: Manifest
    batches: dict[str, BatchResult]
    again: list[BatchResult]


@pytest.fixture(scope="module")
def ingested(
    tmp_path_factory: pytest.TempPathFactory, new_database: NewDatabase
) -> Iterator[Ingested]:
    root = tmp_path_factory.mktemp("deliverability") / "mailer"
    runner = CliRunner()
    made = runner.invoke(cli, ["init", str(root), "--example", "deliverability"])
    assert made.exit_code == 0, made.output
    url = new_database().replace("postgresql://", "postgresql+psycopg://", 1)
    generated = runner.invoke(
        cli,
        [
            *("generate", "--example", "deliverability", "--out", str(root / "landing")),
            *("--days", str(DAYS), "--end", END.isoformat(), "--scale", "0.5"),
            *("--database-url", url),
        ],
    )
    assert generated.exit_code == 0, generated.output
    assert f"export {ENV_DATABASE_URL}={url}" in generated.output
    with serve_crm(root / "landing") as crm, pytest.MonkeyPatch.context() as env:
        env.setenv(ENV_DATABASE_URL, url)
        env.setenv(
            ENV_SUPPRESSIONS_URL, f"sqlite:///{root / 'landing/suppressions/suppressions.db'}"
        )
        env.setenv(ENV_CRM_URL, crm.url)
        env.setenv(ENV_CRM_TOKEN, CRM_TOKEN)
        project = weir.Project(root)
        batches = {b.source: b for b in project.sources.ingest()}
        again = project.sources.ingest(["emails_sent", "delivery_events", "crm_domains"])
        _, result = project.run(ingest=False)
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
        yield Ingested(root, project, Manifest.from_path(root / "landing"), batches, again)


def test_every_source_reconciles_with_the_manifest(ingested: Ingested) -> None:
    assert sorted(ingested.batches) == sorted(SOURCES)
    for name, batch in ingested.batches.items():
        expected = ingested.manifest.sources[name]
        c = batch.counts
        assert c.received == c.accepted + c.quarantined + c.duplicates, name
        assert (batch.files, c.received, c.accepted, c.quarantined, c.duplicates) == (
            expected.files,
            expected.received,
            expected.accepted,
            expected.quarantined,
            expected.duplicates,
        ), name
        assert expected.quarantined + expected.duplicates > 0, f"{name} has no dirty record"
    emails = ingested.manifest.sources["emails_sent"]
    assert 0.01 <= (emails.quarantined + emails.duplicates) / emails.received <= 0.03


def test_the_lake_holds_exactly_what_each_batch_counted(ingested: Ingested) -> None:
    checks = ingested.project.sources.reconcile()
    assert {c.source for c in checks} >= set(SOURCES)
    assert all(c.state == "ok" for c in checks), [c.message for c in checks if c.state != "ok"]


def test_ingesting_again_reads_nothing_new(ingested: Ingested) -> None:
    assert [(b.source, b.counts.received) for b in ingested.again] == [
        ("emails_sent", 0),
        ("delivery_events", 0),
        ("crm_domains", 0),
    ]


def test_a_kpi_counts_every_accepted_email(ingested: Ingested) -> None:
    start = date.fromisoformat(ingested.manifest.start)
    [row] = ingested.project.kpis.answer(
        "emails_sent", grain="month", start=start, end=END
    ).to_pylist()
    assert row["value"] == ingested.manifest.sources["emails_sent"].accepted
    rates = ingested.project.kpis.answer(
        "bounce_rate", grain="month", by=["provider"], start=start, end=END
    )
    providers = {r["provider"]: r for r in rates.to_pylist()}
    assert {"gmail", "outlook", "yahoo", "apple"} <= set(providers)
    assert all(0 < r["value"] < 0.2 for r in providers.values() if r["sent"] > 50)
    warming = ingested.project.kpis.answer(
        "domain_warming", grain="day", by=["sending_domain"], start=start, end=END
    ).to_pylist()
    assert {r["sending_domain"] for r in warming if r["value"]} == {
        "news.cobaltgames.example",
        "offers.fjordtravel.example",
    }


def test_the_recipients_are_personal_data(ingested: Ingested) -> None:
    source = ingested.project.files.source("emails_sent")
    assert {c.name for c in source.columns if c.classification == "pii"} == {"recipient"}


def test_a_missing_environment_variable_is_named(
    ingested: Ingested, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_CRM_URL, raising=False)
    with pytest.raises(WeirError, match=f"the environment variable {ENV_CRM_URL} is not set"):
        ingested.project.sources.ingest(["crm_domains"])


def test_a_crm_url_that_is_not_http_once_filled_in_is_refused(
    ingested: Ingested, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_CRM_URL, "ftp://127.0.0.1:21")
    with pytest.raises(WeirError, match=r"rest\.url is not an http:// or https:// URL"):
        ingested.project.sources.ingest(["crm_domains"])


def test_the_postmasters_see_the_dashboard_and_hashed_addresses(ingested: Ingested) -> None:
    pat = Principal("pat", "postmaster")
    view = ingested.project.dashboards.view(pat, "deliverability")
    assert [t.kpi for t, _ in view.tiles] == [
        "emails_sent",
        "delivery_rate",
        "bounce_rate",
        "complaint_rate",
        "spam_rate",
    ]
    assert all(answer.rows.num_rows > 0 for _, answer in view.tiles + view.charts)
    assert set(ingested.project.dashboards.visible(Principal("alex", "account_manager"))) == {
        "deliverability"
    }
    sql = "SELECT recipient FROM warehouse.fact_emails ORDER BY message_id LIMIT 3"
    hashed = ingested.project.access.query(sql, pat).table.column("recipient").to_pylist()
    clear = ingested.project.access.query(sql, "ada", "admin").table.column("recipient")
    assert all("@" in a for a in clear.to_pylist())
    assert not any("@" in str(h) for h in hashed)


def test_generate_without_a_database_writes_sqlite_and_names_the_variables(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    out = tmp_path / "landing"
    base = ["generate", "--example", "deliverability", "--out", str(out), "--days", "2"]
    done = runner.invoke(
        cli, [*base, "--scale", "0.05", "--end", "2026-01-31"], env={ENV_DATABASE_URL: None}
    )
    assert done.exit_code == 0, done.output
    assert f"export {ENV_DATABASE_URL}=sqlite:///{out / 'mailer' / 'mailer.db'}" in done.output
    assert f"export {ENV_SUPPRESSIONS_URL}=sqlite:///" in done.output
    manifest = Manifest.from_path(out)
    assert (manifest.start, manifest.end) == ("2026-01-30", "2026-01-31")
    assert sorted(manifest.sources) == sorted(SOURCES)
    assert all(c.balanced for c in manifest.sources.values())
    assert len(list((out / "clients").glob("clients_2026-01-3?.xlsx"))) == 2
    refused = runner.invoke(cli, [*base, "--no-incidents"])
    assert refused.exit_code == 2
    assert "the deliverability example plants no incidents" in refused.output
    refused = runner.invoke(
        cli, ["generate", "--out", str(out), "--database-url", "sqlite:///x.db"]
    )
    assert refused.exit_code == 2
    assert "--database-url is the deliverability example's" in refused.output
    bad = runner.invoke(cli, [*base, "--scale", "50"])
    assert bad.exit_code == 1
    assert "--scale 50.0 is out of range" in bad.output


def test_new_rows_of_the_mailer_are_read_incrementally(ingested: Ingested) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ[ENV_DATABASE_URL])
    with engine.begin() as conn:
        top = conn.execute(sa.text("SELECT max(id) FROM emails")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO emails VALUES (:id, :m, 1, 'mail.northwind.example', :r, "
                "'receipt', TIMESTAMP '2026-03-15 23:00:00')"
            ),
            [
                {"id": top + 1, "m": "late-1@mail.northwind.example", "r": "zoe@gmail.com"},
                {"id": top + 2, "m": "late-2@mail.northwind.example", "r": "no-at-sign"},
            ],
        )
    engine.dispose()
    [batch] = ingested.project.sources.ingest(["emails_sent"])
    c = batch.counts
    assert (c.received, c.accepted, c.quarantined, c.duplicates) == (2, 1, 1, 0)
    [held] = ingested.project.sources.quarantine(
        "emails_sent", limit=100, reason="recipient"
    ).to_pylist()[-1:]
    assert "no-at-sign" not in str(held["_reasons"])  # a pii value is never echoed


def test_a_recipient_is_erased_everywhere(ingested: Ingested) -> None:
    sql = "SELECT recipient FROM staging.emails_sent WHERE recipient = 'zoe@gmail.com'"
    assert ingested.project.access.sql(sql).num_rows == 1
    subjects = ingested.project.subjects
    certificate = subjects.erase(subjects.resolve("zoe@gmail.com"), "request 7")
    assert certificate.verified, certificate.summary()
    assert ingested.project.access.sql(sql).num_rows == 0


def test_a_change_of_plan_is_a_new_version_of_the_client(ingested: Ingested) -> None:
    # the generator moves Daisy Florists (4) and Granite SaaS (7) from Starter to Growth
    sql = (
        "SELECT client_id, plan, valid_from, valid_to FROM warehouse.dim_client "
        "WHERE client_id IN (4, 7) ORDER BY client_id, valid_from"
    )
    rows = ingested.project.access.sql(sql).to_pylist()
    assert [(r["client_id"], r["plan"], r["valid_to"] is None) for r in rows] == [
        (4, "Starter", False),
        (4, "Growth", True),
        (7, "Starter", False),
        (7, "Growth", True),
    ]
    assert rows[0]["valid_to"] == rows[1]["valid_from"]


def test_the_crm_api_pages_by_cursor_and_wants_its_token(tmp_path: Path) -> None:
    import json

    import httpx

    from weir.demo.deliverability.crm_api import DOMAINS_FILE

    records = [
        {"domain": f"d{n}.example", "updated_at": f"2026-01-0{n}T00:00:00Z"} for n in (3, 1, 2, 4)
    ]
    (tmp_path / DOMAINS_FILE).parent.mkdir(parents=True)
    (tmp_path / DOMAINS_FILE).write_text(json.dumps(records), encoding="utf-8")
    with serve_crm(tmp_path, "t0ken") as crm, httpx.Client(base_url=crm.url) as client:
        assert client.get("/v1/domains").status_code == 401
        auth = {"Authorization": "Bearer t0ken"}
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            body = client.get("/v1/domains", params=params, headers=auth).json()
            seen += [r["domain"] for r in body["data"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert (seen, pages) == (["d1.example", "d2.example", "d3.example", "d4.example"], 2)
        since = {"updated_since": "2026-01-02T00:00:00Z"}
        body = client.get("/v1/domains", params=since, headers=auth).json()
        assert [r["domain"] for r in body["data"]] == ["d3.example", "d4.example"]
        assert client.get("/v1/other", headers=auth).status_code == 404
