"""``sources test`` and ``sources discover`` over HTTP: ``POST /api/v1/sources/{name}/test``,
``POST /api/v1/sources/discover`` and the control panel's sources page, in-process.

The project (``sources_site``) has a source for each way a test can go: a sample with
personal values withheld, a workbook without its sheet, MariaDB refusing a wrong password,
PostgreSQL not listening, a URL answering HTML. Each error must read as the CLI's does,
with no traceback and no secret; a caller may name only what ``served_target`` allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from panel_site import sign_in
from sources_site import (
    API_KEY,
    WRONG_PASSWORD,
    SourcesSite,
    build_sources_site,
    feeds,
    workbook,
)
from starlette.testclient import TestClient

import weir
from weir.cli.main import cli
from weir.ingest.probe import shown_target
from weir.serve.app import create_app

TEST = "/api/v1/sources/{}/test"
DISCOVER = "/api/v1/sources/discover"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourcesSite]:
    with feeds() as url:
        yield build_sources_site(tmp_path_factory.mktemp("sources"), url)


@pytest.fixture(scope="module")
def project(site: SourcesSite) -> Iterator[weir.Project]:
    with weir.Project(site.root) as opened:
        yield opened


@pytest.fixture(scope="module")
def api(project: weir.Project) -> TestClient:
    return TestClient(create_app(project))


def error_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    found: dict[str, Any] = answer.json()["error"]
    return found


def cli_error(root: Path, *args: str) -> str:
    """What ``weir`` prints on stderr for the command, as one line."""
    done = CliRunner().invoke(cli, ["--project", str(root), *args])
    assert done.exit_code != 0, done.output
    return " ".join(done.stderr.split())


def newest_audit(project: weir.Project, user: str) -> Any:
    return project.audit.records("ingest", user, limit=1)[0]


# -- test ----------------------------------------------------------------------------------
def test_a_sample_withholds_personal_values_and_stores_nothing(
    api: TestClient, site: SourcesSite, project: weir.Project
) -> None:
    answer = api.post(TEST.format("customers"), params={"limit": 2}, headers=site.headers("ops"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == "customers" and body["stored"] == 0
    assert body["reached"] == "1 new file(s) under landing/customers/*.csv"
    assert body["reads"] == "the first, landing/customers/customers_2025-01-06.csv"
    sample = body["sample"]
    names = [c["name"] for c in sample["columns"]]
    assert names[0] == "at" and names[-1] == "_reasons"
    first = dict(zip(names, sample["rows"][0], strict=True))
    # customer 1 of the golden file: "1,Amira,Okafor,amira.okafor@example.net,…,GB,1701561600.0"
    assert first["customer_id"] == "1" and first["country"] == "GB"
    assert first["email"] == "(withheld: pii)" and first["first_name"] == "(withheld: pii)"
    assert "Amira" not in answer.text and "amira.okafor" not in answer.text
    assert sample["row_count"] == 2
    # nothing stored, and the test is on the audit log under the caller's name
    assert project.ingestor.ledger.batches("customers") == []
    record = newest_audit(project, "otto")
    assert record.entry.action == "sources test customers" and record.entry.allowed
    assert record.entry.rows == 2


def test_a_missing_sheet_is_a_held_record_naming_the_sheets(
    api: TestClient, site: SourcesSite
) -> None:
    body = api.post(TEST.format("pnl"), headers=site.headers("admin")).json()
    [row] = body["sample"]["rows"]
    assert row[-1] == [
        "pnl_2024.xlsx has no sheet 'Mar'; its sheets: Jan: rename the sheet in the export, "
        "or list the right ones in sheet: {sheets: [...]}"
    ]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("po_refused", "Access denied for user 'root'"),
        ("po_unreachable", 'connection to server at "127.0.0.1", port 1 failed'),
        ("feed", "page 1 is not JSON (content type text/html; charset=utf-8)"),
    ],
)
def test_a_source_that_fails_says_what_the_cli_says_without_a_secret(
    api: TestClient, site: SourcesSite, project: weir.Project, source: str, says: str
) -> None:
    error = error_of(api.post(TEST.format(source), headers=site.headers("admin")), 400)
    assert says in error["message"], error
    assert WRONG_PASSWORD not in str(error)
    # the CLI prints the same message and fix
    printed = cli_error(site.root, "sources", "test", source)
    assert " ".join(error["message"].split()) in printed
    assert " ".join(error["fix"].split()) in printed
    record = newest_audit(project, "ada")
    assert record.entry.action == f"sources test {source}" and not record.entry.allowed
    assert WRONG_PASSWORD not in str(record.as_row())


def test_testing_needs_an_operator_role_and_a_known_source(
    api: TestClient, site: SourcesSite
) -> None:
    refused = error_of(api.post(TEST.format("stores"), headers=site.headers("sales")), 403)
    assert refused["message"] == "the role sales may not test sources"
    assert error_of(api.post(TEST.format("stores")), 401)["code"] == "unauthorized"
    unknown = error_of(api.post(TEST.format("storez"), headers=site.headers("ops")), 404)
    assert unknown["suggestion"] == "stores"
    # every file of stores is ingested: nothing new to sample, and how to go on
    none_new = error_of(api.post(TEST.format("stores"), headers=site.headers("ops")), 400)
    assert none_new["message"] == (
        "no new file of source stores matches landing/stores/*.csv (1 already ingested)"
    )
    too_many = error_of(
        api.post(TEST.format("stores"), params={"limit": 0}, headers=site.headers("ops")), 422
    )
    assert too_many["problems"][0]["where"] == "query.limit"


# -- discover ------------------------------------------------------------------------------
def test_discover_an_api_a_landed_workbook_and_a_database_table(
    api: TestClient,
    site: SourcesSite,
    project: weir.Project,
    new_database: Any,
) -> None:
    admin = site.headers("admin")
    hops = api.post(
        DISCOVER, json={"url": f"{site.feeds}/v1/hops?api_key={API_KEY}"}, headers=admin
    )
    assert hops.status_code == 200, hops.text
    proposal = hops.json()
    assert (proposal["name"], proposal["file"]) == ("hops", "sources/hops.yml")
    assert proposal["notes"] == ["proposed from 2 record(s)"]
    assert proposal["contract"].splitlines()[-5:] == [
        "  - {name: hop_id, type: int, nullable: false}",
        "  - {name: parcel, type: string, nullable: false}",
        "  - {name: at, type: date, nullable: false}",
        "  - {name: weight, type: float, nullable: false}",
        "  - {name: signed, type: bool, nullable: false}",
    ]
    assert API_KEY not in proposal["contract"]
    record = newest_audit(project, "ada")
    assert record.entry.action == f"sources discover {site.feeds}/v1/hops"
    assert API_KEY not in str(record.as_row())
    assert not (site.root / "sources" / "hops.yml").exists()  # shown, never written

    sheet = api.post(
        DISCOVER, json={"path": "landing/exports/stores.xlsx", "name": "shop_stores"}, headers=admin
    ).json()
    assert sheet["contract"].splitlines()[:4] == [
        "name: shop_stores",
        "description: Records of stores.xlsx, proposed by weir sources discover; review it",
        "format: xlsx",
        "location: landing/shop_stores/*.xlsx",
    ]

    # a file of a source's location outside landing/ may be named too
    budget = api.post(DISCOVER, json={"path": "finance/budget_2026.xlsx"}, headers=admin)
    assert budget.status_code == 200, budget.text
    assert budget.json()["contract"].splitlines()[-2:] == [
        "  - {name: line, type: string, nullable: false}",
        "  - {name: amount, type: float, nullable: false}",
    ]

    url = sa.make_url(new_database()).set(password="pw-in-clear")
    engine = sa.create_engine(url)
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE shipments (id int PRIMARY KEY, sent_on date)"))
    engine.dispose()
    table = api.post(
        DISCOVER, json={"url": url.render_as_string(hide_password=False)}, headers=admin
    )
    assert table.status_code == 200, table.text
    assert "pw-in-clear" not in table.text
    assert ":${SHIPMENTS_PASSWORD}@" in table.json()["contract"]
    assert "pw-in-clear" not in str(newest_audit(project, "ada").as_row())


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"path": "../outside.xlsx"}, 403, "is not a path inside the project"),
        ({"path": "/etc/passwd"}, 403, "is not a path inside the project"),
        ({"path": "weir.yml"}, 403, "outside the project's landing/ folder"),
        ({"path": "landing/escape.xlsx"}, 403, "outside the project's landing/ folder"),
        ({"path": "finance/old/budget_2025.xlsx"}, 403, "outside the project's landing/"),
        ({"url": "sqlite:///landing/shop.db"}, 403, "does not open sqlite databases"),
        ({"url": "postgresql://u@h/db?sslkey=/etc/key"}, 403, "the parameter(s) sslkey"),
        ({"url": "postgresql://u:${HOME}@h/db"}, 403, "names an environment variable"),
        ({"url": "file:///etc/passwd"}, 403, "does not read files by URL"),
        ({"url": "ftp.example.com/x"}, 400, "url is not a URL"),
        ({"url": "https://[::1/x"}, 400, "https://… is not a valid URL"),
        ({"url": "http://x\u0000y/"}, 400, "is not a valid URL (Invalid non-printable"),
        ({"path": "landing/a\u0000.xlsx"}, 400, "path holds a control character"),
        ({"url": "https://x", "path": "landing/a.xlsx"}, 400, "give either url or path"),
        ({}, 400, "give either url or path"),
        ({"path": "landing/notes.txt"}, 400, "cannot propose a contract for a txt target"),
        ({"path": "landing/none.xlsx"}, 400, "no file at"),
    ],
)
def test_discover_refuses_what_a_caller_may_not_name(
    api: TestClient, site: SourcesSite, project: weir.Project, body: dict[str, str], status: int,
    says: str,
) -> None:  # fmt: skip
    outside = workbook(site.root.parent / "outside.xlsx", "S", [["a"], [1]])
    link = site.root / "landing" / "escape.xlsx"  # a link out of the landing folder
    if not link.is_symlink():
        link.symlink_to(outside)
    error = error_of(api.post(DISCOVER, json=body, headers=site.headers("admin")), status)
    assert says in error["message"], error
    assert error["fix"]
    assert not newest_audit(project, "ada").entry.allowed


def test_discover_is_for_admin_roles(api: TestClient, site: SourcesSite) -> None:
    body = {"path": "landing/exports/stores.xlsx"}
    refused = error_of(api.post(DISCOVER, json=body, headers=site.headers("ops")), 403)
    assert refused["message"] == "the role ops may not discover sources"
    assert error_of(api.post(DISCOVER, json=body), 401)["code"] == "unauthorized"
    extra = error_of(
        api.post(DISCOVER, json={**body, "write": True}, headers=site.headers("admin")), 422
    )
    assert extra["problems"][0]["where"] == "body.write"


def test_the_routes_are_in_the_openapi_document(api: TestClient) -> None:
    document = api.get("/api/v1/openapi.json").json()
    test = document["paths"]["/api/v1/sources/{name}/test"]["post"]
    discover = document["paths"]["/api/v1/sources/discover"]["post"]
    assert {"200", "400", "401", "403", "404", "422"} <= set(test["responses"])
    assert {"200", "400", "401", "403", "422"} <= set(discover["responses"])
    schema = document["components"]["schemas"]["DiscoverRequest"]
    assert set(schema["properties"]) == {"url", "path", "table", "name", "token"}


# -- the control panel -----------------------------------------------------------------------
def panel_as(project: weir.Project, site: SourcesSite, role: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(project), follow_redirects=False)
    return client, sign_in(client, site.tokens[role])


def test_the_sources_page_lists_format_last_batch_and_reconciliation(
    project: weir.Project, site: SourcesSite
) -> None:
    admin, _ = panel_as(project, site, "admin")
    page = admin.get("/panel/sources").text
    stores = page[page.index('data-source="stores"') :].split("</tr>", 1)[0]
    assert "<td data-format>csv</td>" in stores
    assert 'data-reconciled="ok"' in stores and "committed" in stores
    pnl = page[page.index('data-source="pnl"') :].split("</tr>", 1)[0]
    assert "<td data-format>xlsx</td>" in pnl and 'data-reconciled="none"' in pnl
    assert 'hx-post="/panel/sources/pnl/test"' in pnl
    assert 'id="discover-target"' in page and 'src="/static/vendor/htmx.min.js"' in page


def test_the_test_button_answers_a_part_for_htmx_and_a_page_without_script(
    project: weir.Project, site: SourcesSite
) -> None:
    admin, csrf = panel_as(project, site, "admin")
    part = admin.post(
        "/panel/sources/customers/test", data={"csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert part.status_code == 200
    assert part.text.lstrip().startswith("<section") and "<html" not in part.text
    assert 'data-outcome="ok"' in part.text and "(withheld: pii)" in part.text
    assert "Amira" not in part.text
    whole = admin.post("/panel/sources/customers/test", data={"csrf_token": csrf})
    assert whole.status_code == 200 and "<html" in whole.text
    assert 'id="test-result" data-source="customers" data-outcome="ok"' in whole.text
    # an error is said in place (htmx swaps only a 200), and with its status without script
    failed = admin.post(
        "/panel/sources/po_refused/test", data={"csrf_token": csrf}, headers={"HX-Request": "true"}
    )
    assert failed.status_code == 200 and 'data-outcome="error"' in failed.text
    assert "Access denied for user" in failed.text and WRONG_PASSWORD not in failed.text
    assert "Traceback" not in failed.text
    plain = admin.post("/panel/sources/feed/test", data={"csrf_token": csrf})
    assert plain.status_code == 400 and "page 1 is not JSON" in plain.text
    assert admin.post("/panel/sources/customers/test").status_code == 403  # no CSRF token


def test_the_discover_form_shows_the_yaml_with_a_copy_button(
    project: weir.Project, site: SourcesSite
) -> None:
    admin, csrf = panel_as(project, site, "admin")
    part = admin.post(
        "/panel/sources/discover",
        data={"csrf_token": csrf, "target": "landing/exports/stores.xlsx"},
        headers={"HX-Request": "true"},
    )
    assert part.status_code == 200
    assert 'data-copy="#proposal-text"' in part.text
    found = re.search(r'<code id="proposal-text">(.*?)</code>', part.text, re.S)
    assert found is not None
    assert found.group(1).startswith("name: stores\n") and "format: xlsx" in found.group(1)
    refused = admin.post(
        "/panel/sources/discover",
        data={"csrf_token": csrf, "target": "../outside.xlsx"},
        headers={"HX-Request": "true"},
    )
    assert 'data-outcome="error"' in refused.text and "not a path inside" in refused.text
    assert newest_audit(project, "ada").entry.action == "sources discover (refused)"
    # without script the page comes back with the form filled in again, but no password
    secret = "postgresql+psycopg://weir:pw-typed-in@127.0.0.1:1/shop?connect_timeout=5"
    whole = admin.post("/panel/sources/discover", data={"csrf_token": csrf, "target": secret})
    assert whole.status_code == 400 and "<html" in whole.text
    assert 'data-outcome="error"' in whole.text and "cannot read the tables of" in whole.text
    assert "pw-typed-in" not in whole.text
    assert 'value="postgresql+psycopg://weir:***@127.0.0.1:1/shop' in whole.text


def test_operators_test_but_do_not_discover_and_others_see_nothing(
    project: weir.Project, site: SourcesSite
) -> None:
    ops, csrf = panel_as(project, site, "ops")
    page = ops.get("/panel/sources").text
    assert 'hx-post="/panel/sources/customers/test"' in page and "discover-target" not in page
    tested = ops.post("/panel/sources/pnl/test", data={"csrf_token": csrf})
    assert tested.status_code == 200
    denied = ops.post(
        "/panel/sources/discover",
        data={"csrf_token": csrf, "target": "landing/exports/stores.xlsx"},
    )
    assert denied.status_code == 404
    sales, csrf = panel_as(project, site, "sales")
    assert sales.get("/panel/sources").status_code == 404
    assert sales.post("/panel/sources/pnl/test", data={"csrf_token": csrf}).status_code == 404


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("https://api.example.com/v1/hops?api_key=k&page=2", "https://api.example.com/v1/hops"),
        ("https://me:pw@api.example.com:8443/v1#top", "https://me:***@api.example.com:8443/v1"),
        ("postgresql+psycopg://weir:pw@db/shop", "postgresql+psycopg://weir:***@db/shop"),
        ("https://[::1/x", "https://…"),
        ("landing/exports/stores.xlsx", "landing/exports/stores.xlsx"),
    ],
)
def test_a_target_is_shown_and_audited_without_its_secrets(target: str, shown: str) -> None:
    assert shown_target(target) == shown
