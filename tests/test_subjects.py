"""Data subjects: find, export and erase one person, and prove by scan that nothing of them is left.

The golden retailer (hand-made, tests/golden) is ingested from files, one
customer's live events come through the HTTP collector, the models are
built and an admin's query puts the customer's e-mail in the audit log.
Customer 4 (Dev Patel, who moved: two addresses, two SCD2 versions) is then
erased. Every byte of every file under the project folder (but the landing
folder, the retailer's own drop zone that weir reads and never writes) is
searched for their e-mail, phone, last name, both addresses and the message
they sent, in any letter case, raw and with Parquet decoded: none is left,
the other customers are untouched and every KPI of docs/kpis.md answers as
before. The same on PostgreSQL metadata.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from conftest import NewDatabase, crm_event, files_under, land, web_event
from golden.expected import DIMENSION_COLUMNS, EXPECTED

import weir
from weir.cli.main import cli
from weir.errors import NotFoundError, ProjectError, QueryError
from weir.governance.proof import scan
from weir.serve.app import create_app

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
ERASED = 4
EMAIL = "dev.patel@example.net"
# what must be gone: the e-mail, phone, last name, both addresses, and what they wrote live
PERSONAL = [
    EMAIL,
    "+44 7700 900104",
    "Patel",
    "7 Albion Street, Leeds, LS2 8JS",
    "40 Headrow, Leeds, LS1 6PU",
    "Wrong strap colour on the Kestrel tote",
]
KEPT = ["amira.okafor@example.net", "Okafor", "ben.hartley@example.net"]
W2_DAY = int(datetime(2025, 1, 15, 11, tzinfo=UTC).timestamp())


def copies(root: Path, values: list[str]) -> list[tuple[str, str]]:
    """(file, value) for each value found under ``root`` (not landing/), raw or Parquet decoded."""
    found = []
    for path in files_under(root):
        if "landing" in path.relative_to(root).parts[:1]:
            continue
        data = path.read_bytes().lower()
        if path.suffix == ".parquet":
            decoded = json.dumps(pq.read_table(path).to_pylist(), default=str)
            data += decoded.lower().encode()
        for value in values:
            if value.lower().encode() in data:
                found.append((str(path.relative_to(root)), value))
    return found


def rows_by_table(found: dict[str, Any]) -> dict[str, int]:
    return {place["table"]: place["rows"] for place in found["places"]}


# one question of each KPI of docs/kpis.md (the golden tests ask each in many ways)
ONE_PER_KPI = list({entry["kpi"]: entry for entry in EXPECTED}.values())


def kpi_answers(project: weir.Project) -> list[list[dict[str, Any]]]:
    return [
        project.kpis.answer(
            entry["kpi"],
            grain=entry["grain"],
            by=[DIMENSION_COLUMNS[b] for b in entry["by"]],
            start=date.fromisoformat(entry["from"]),
            end=date.fromisoformat(entry["to"]),
        ).to_pylist()
        for entry in ONE_PER_KPI
    ]


def post_live(project: weir.Project, events: dict[str, list[dict[str, Any]]]) -> list[Any]:
    """Post events through the collector's HTTP door, then flush them into the lake."""
    app = create_app(project)
    key = project.access.write_keys().create(sorted(events)).key

    async def send() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            for source, batch in events.items():
                answer = await client.post(
                    f"/collect/v1/{source}", json=batch, headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200, answer.text

    asyncio.run(send())
    collector = app.state.collector
    try:
        return list(collector.flush())
    finally:
        collector.close()


def set_catalog(root: Path, uri: str) -> None:
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["catalog_uri"] = uri
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def unsealed(root: Path) -> None:
    path = root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["privacy"]["encrypt_pii"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@dataclass
class Erased:
    root: Path
    project: weir.Project
    found: dict[str, Any]
    kept_before: dict[str, Any]
    kpis_before: list[list[dict[str, Any]]]
    certificate: dict[str, Any]
    manifests_held_them: bool


def build_and_erase(
    root: Path,
    catalog_uri: str | None = None,
    sources: tuple[str, ...] | None = None,
    lake: str | None = None,
) -> Erased:
    """The golden retailer (or some of its ``sources``, without models), live events, then erasure.

    ``lake``: where the lake lives (``s3://…``, see test_s3.py), when not in the state folder.
    """
    weir.init_project(root)
    for source in sources or [p.name for p in GOLDEN.iterdir()]:
        shutil.copytree(GOLDEN / source, root / "landing" / source)
    if catalog_uri is not None:
        set_catalog(root, catalog_uri)
    if lake is not None:
        with (root / "weir.yml").open("a", encoding="utf-8") as config:
            config.write(f"lake: {lake}\n")
    # the physical purge on its own: with sealing (test_sealed_pii.py) no clear value is
    # on disk to begin with, and the scan below would prove nothing
    unsealed(root)
    project = weir.Project(root)
    project.sources.ingest(list(sources) if sources else None)
    message = PERSONAL[-1]
    reports = post_live(
        project,
        {
            "crm_interactions": [
                crm_event("live1", customer_id=ERASED, message_excerpt=message, timestamp=W2_DAY)
            ],
            "web_traffic": [web_event("live2", user_id=ERASED, session_id="z9", timestamp=W2_DAY)],
        },
    )
    assert reports and all(r.result.counts.accepted == 1 for r in reports)
    if sources is None:
        _, result = project.run(ingest=False)
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    # an operator's query puts the e-mail in the audit log's SQL text
    project.access.query(
        f"SELECT customer_id FROM staging.customers WHERE email = '{EMAIL}'", "ada", role="admin"
    )
    subject = project.subjects.resolve(email=EMAIL)
    found = project.subjects.find(subject).as_dict()
    kept_before = project.subjects.find(project.subjects.resolve(1)).as_dict()
    # the smallest e-mail is a bound of the customers' manifests (kept in compressed Avro)
    before = scan(project.files.state_dir, {"email": KEPT[0]})
    manifests = any(hit.found_in == "avro" for hit in before.hits)
    kpis = kpi_answers(project) if sources is None else []
    certificate = project.subjects.erase(subject, "GDPR art. 17 request, ticket 1234").as_dict()
    return Erased(root, project, found, kept_before, kpis, certificate, manifests)


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erased]:
    done = build_and_erase(tmp_path_factory.mktemp("subjects") / "shop")
    yield done
    done.project.close()


def test_find_lists_every_place_with_counts(erased: Erased) -> None:
    found = erased.found
    assert found["id"] == str(ERASED)
    tables = {p["table"]: p for p in found["places"]}
    # the sources that name customer 4, each in raw and staging, and the models downstream
    for table, rows in {
        "raw.customers": 2,  # two daily extracts
        "staging.customers": 2,
        "warehouse.dim_customer": 2,  # moved: two SCD2 versions
        "staging.customer_demographics": 1,
        "staging.crm_interactions": 5,  # 4 from files, 1 live
        "staging.web_traffic": 6,  # 5 from files, 1 live
    }.items():
        assert tables[table]["rows"] == rows, (table, tables[table])
    assert tables["warehouse.fact_web_events"]["rows"] == 6
    assert found["audit_records"] >= 1  # the admin's query naming the e-mail


def test_erasure_leaves_no_copy_anywhere(erased: Erased) -> None:
    certificate = erased.certificate
    assert certificate["verified"], certificate["verification"]
    assert certificate["verification"]["hits"] == []
    assert certificate["rows"] > 0 and certificate["files_removed"] > 0
    assert erased.manifests_held_them  # the scan decodes manifests: it finds bounds there
    leftovers = copies(erased.root, PERSONAL)
    assert erased.certificate["metadata"]["audit_literals_erased"] == 1  # the admin's query
    assert leftovers == []
    assert erased.project.audit.verify().ok  # the chain holds without the erased literals


def test_other_customers_and_every_kpi_are_unchanged(erased: Erased) -> None:
    project = erased.project
    assert kpi_answers(project) == erased.kpis_before
    kept = project.subjects.find(project.subjects.resolve(1)).as_dict()
    # every row of customer 1 is where it was (the older snapshots went: they are fewer)
    assert rows_by_table(kept) == rows_by_table(erased.kept_before)
    assert len(copies(erased.root, KEPT)) > 0
    # customer 4's facts stay, under one pseudonym in every table
    [pseudonym] = {
        row["customer_id"]
        for row in project.sql("SELECT customer_id FROM warehouse.dim_customer").to_pylist()
        if row["customer_id"] < 0
    }
    sales = project.sql(
        f"SELECT count(*) AS n FROM warehouse.fact_sales_lines WHERE customer_id = {pseudonym}"
    ).to_pylist()
    assert sales == [{"n": 2}]
    [row] = project.sql(
        f"SELECT * FROM warehouse.dim_customer WHERE customer_id = {pseudonym} LIMIT 1"
    ).to_pylist()
    assert row["email"] is None and row["address"] is None and row["country"] == "GB"


def test_the_erased_subject_is_found_no_more_and_erasing_again_changes_nothing(
    erased: Erased,
) -> None:
    project = erased.project
    with pytest.raises(NotFoundError):
        project.subjects.resolve(email=EMAIL)
    again = project.subjects.find(project.subjects.resolve(ERASED)).as_dict()
    assert again["places"] == [] and again["erased"]["state"] == "done"
    repeat = project.subjects.erase(project.subjects.resolve(ERASED), "again").as_dict()
    assert repeat["already_erased"] and repeat["erasure"] == erased.certificate["erasure"]
    [record] = project.audit.records(kind="subject.erase", limit=1)
    assert record.entry.detail is not None and record.entry.detail["verified"]
    assert EMAIL not in json.dumps(record.entry.detail)


def test_time_travel_before_the_erasure_is_refused(erased: Erased) -> None:
    with pytest.raises(NotFoundError, match="keeps its history from"):
        erased.project.sql(
            "SELECT * FROM staging.customers", as_of=datetime(2020, 1, 1, tzinfo=UTC)
        )


def test_a_late_file_and_event_about_them_are_suppressed_and_counted(erased: Erased) -> None:
    project = erased.project
    land(
        erased.root,
        "customers",
        "customers_2025-01-20.csv",
        "customer_id,first_name,last_name,email,phone,address,country,created_at\n"
        '1,Amira,Okafor,amira.okafor@example.net,+44 7700 900101,"12 Park Row",GB,1701561600.0\n'
        f'4,Dev,Patel,{EMAIL},+44 7700 900104,"40 Headrow, Leeds, LS1 6PU",GB,1718841600.0\n',
    )
    [batch] = project.sources.ingest(["customers"])
    counts = batch.counts
    assert (counts.received, counts.accepted, counts.suppressed) == (2, 1, 1)
    assert counts.reconciles()
    [report] = post_live(
        project,
        {"crm_interactions": [crm_event("late1", customer_id=ERASED, timestamp=W2_DAY)]},
    )
    assert (report.result.counts.received, report.result.counts.suppressed) == (1, 1)
    assert report.matches_receipts
    status = {s.source: s for s in project.sources.status()}
    assert status["customers"].totals.suppressed == 1 and status["customers"].totals.reconciles()
    assert [c for c in copies(erased.root, PERSONAL) if c[0] != ".weir/catalog.db"] == []


def test_export_holds_every_layer_in_clear_and_is_audited(erased: Erased) -> None:
    project = erased.project
    export = project.subjects.export(project.subjects.resolve(email="ben.hartley@example.net"))
    assert export["id"] == "2"
    assert export["tables"]["staging.customers"][0]["email"] == "ben.hartley@example.net"
    assert {"raw.customers", "warehouse.dim_customer", "warehouse.fact_sales_lines"} <= set(
        export["tables"]
    )
    [record] = project.audit.records(kind="subject.export", limit=1)
    assert "ben.hartley" not in json.dumps(record.as_row())


def test_on_postgresql_metadata(tmp_path: Path, new_database: NewDatabase) -> None:
    """The metadata on PostgreSQL: the erasure registry, the audit literals and VACUUM FULL there.

    The customers' own sources only, without the models (the lake is the same on either).
    """
    sources = ("customers", "pos", "crm_interactions", "web_traffic")
    done = build_and_erase(tmp_path / "shop", new_database(), sources)
    try:
        assert done.certificate["verified"], done.certificate["verification"]
        assert done.certificate["metadata"]["audit_literals_erased"] == 1
        # the lake files and logs are under the folder; the metadata is on the server
        assert copies(done.root, PERSONAL) == []
        assert done.certificate["metadata"]["vacuumed"][0].startswith("weir_audit")
    finally:
        done.project.close()


# -- bad input -------------------------------------------------------------------------------


def test_who_a_subject_is_is_checked_against_the_sources(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    original = (root / "weir.yml").read_text(encoding="utf-8")
    for old, new, message in [
        (
            "        pos: customer_id\n",
            "        poss: customer_id\n",
            "no source named 'poss'.*did you mean pos",
        ),
        (
            "        orders: customer_id\n",
            "        orders: customerid\n",
            "has no column 'customerid'.*did you mean customer_id",
        ),
        ("email: customers.email", "email: email", "not source.column"),
        ("email: customers.email", "email: stores.name", "not one of this subject's sources"),
        (
            "        web_traffic: user_id",
            "        web_traffic: session_id",
            "all be int or all be string",
        ),
    ]:
        assert old in original
        (root / "weir.yml").write_text(original.replace(old, new), encoding="utf-8")
        with pytest.raises(ProjectError, match=message):
            weir.Project(root)


def test_unknown_ambiguous_and_malformed_subjects_are_clear_errors(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    header = "customer_id,first_name,last_name,email,phone,address,country,created_at\n"
    land(
        root,
        "customers",
        "customers_2025-01-06.csv",
        header
        + "1,Ann,Lee,shared@example.com,+1 555 0100,1 Main St,US,1701561600.0\n"
        + "2,Bob,Lee,SHARED@example.com,+1 555 0101,2 Main St,US,1701561600.0\n",
    )
    with weir.Project(root) as project:
        project.sources.ingest(["customers"])
        subjects = project.subjects
        with pytest.raises(
            QueryError, match=r"belongs to 2 customers \(ids 1, 2\); nothing was done"
        ):
            subjects.resolve(email="shared@example.com")
        with pytest.raises(NotFoundError, match="no customer has that email"):
            subjects.resolve(email="nobody@example.com")
        with pytest.raises(QueryError, match="is not a customer id"):
            subjects.resolve("ann")
        with pytest.raises(QueryError, match="exactly one of"):
            subjects.resolve(1, email="shared@example.com")
        with pytest.raises(QueryError, match="cannot be looked up by address"):
            subjects.resolve(lookup={"address": "1 Main St"})
        with pytest.raises(NotFoundError, match="no customer 99 anywhere"):
            subjects.find(subjects.resolve(99))
        with pytest.raises(NotFoundError, match="nothing was erased"):
            subjects.erase(subjects.resolve(99), "a reason")
        with pytest.raises(QueryError, match="needs a reason"):
            subjects.erase(subjects.resolve(1), " ")
        assert project.erasures.list() == []
        # nothing was changed: both customers are there as they were
        assert subjects.find(subjects.resolve(2)).rows == 2
    # the command line says it in one line, without a traceback, and exits 1
    runner = CliRunner()
    ambiguous = runner.invoke(
        cli,
        [
            "--project",
            str(root),
            "subject",
            "erase",
            "--email",
            "shared@example.com",
            "--reason",
            "r",
        ],
    )
    assert ambiguous.exit_code == 1 and "Traceback" not in ambiguous.output
    assert ambiguous.stderr.strip().startswith("error: that email belongs to 2 customers")
    found = runner.invoke(cli, ["--project", str(root), "subject", "find", "2", "--format", "json"])
    assert found.exit_code == 0 and json.loads(found.stdout)["rows"] == 2


# -- crash safety ----------------------------------------------------------------------------


def _erase_cli(root: Path, crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WEIR_ERASE_CRASH_AT": crash_at or ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "weir",
            "--project",
            str(root),
            "subject",
            "erase",
            str(ERASED),
            "--reason",
            "crash test",
            "--format",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_an_erasure_killed_at_any_step_is_finished_by_running_it_again(tmp_path: Path) -> None:
    root = weir.init_project(tmp_path / "shop")
    for source in ("customers", "pos"):
        shutil.copytree(GOLDEN / source, root / "landing" / source)
    with weir.Project(root) as project:
        project.sources.ingest(["customers", "pos"])
        kept = rows_by_table(project.subjects.find(project.subjects.resolve(1)).as_dict())
    # killed (no clean-up: os._exit) after the record, mid-lake, and after the lake
    for step in ("collect", "lake:staging.customers", "metadata"):
        killed = _erase_cli(root, step)
        assert killed.returncode == 137, killed.stderr
    finished = _erase_cli(root, None)
    assert finished.returncode == 0, finished.stderr
    certificate = json.loads(finished.stdout)
    assert certificate["verified"] and certificate["verification"]["hits"] == []
    assert copies(root, PERSONAL[:5]) == []
    with weir.Project(root) as project:
        assert rows_by_table(project.subjects.find(project.subjects.resolve(1)).as_dict()) == kept
        [erasure] = project.erasures.list()
        assert erasure.state == "done"
        assert not list((root / ".weir" / "keys").glob("erasure-*"))  # the proof values are gone
