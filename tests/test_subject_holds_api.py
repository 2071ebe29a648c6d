"""Legal holds on one person, and the subject routes of the API.

Four customers are ingested (two share an e-mail). A hold on customer 3
makes their erasure a clear refusal from the library, the CLI and the API
(409), with nothing changed; once released, the API erases them. The API's
find, export and erase are the CLI's calls under the caller's name, for
admin roles only; an unknown or ambiguous person is the standard error JSON,
and no request's e-mail reaches an answer's error or the audit log in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from conftest import crm_event, jsonl, land
from test_api import Client

import weir
from weir.cli.main import cli
from weir.lifecycle.holds import HeldError

HEADER = "customer_id,first_name,last_name,email,phone,address,country,created_at\n"
CUSTOMERS = (
    "1,Ann,Lee,shared@example.com,+1 555 0100,1 Main St,US,1701561600.0\n"
    "2,Bob,Lee,SHARED@example.com,+1 555 0101,2 Main St,US,1701561600.0\n"
    "3,Cat,Held,cat.held@example.com,+1 555 0103,3 Main St,US,1701561600.0\n"
    "4,Dan,Open,dan.open@example.com,+1 555 0104,4 Main St,US,1701561600.0\n"
)
EMAILS = ["shared@example.com", "cat.held@example.com", "dan.open@example.com"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[weir.Project]:
    root = weir.init_project(tmp_path_factory.mktemp("holds") / "shop")
    land(root, "customers", "customers_2025-01-06.csv", HEADER + CUSTOMERS)
    land(
        root,
        "crm_interactions",
        "crm_2025-01-06.jsonl",
        jsonl(crm_event("c1", customer_id=3), crm_event("c2", customer_id=4)),
    )
    with weir.Project(root) as project:
        project.sources.ingest(["customers", "crm_interactions"])
        yield project


@pytest.fixture(scope="module")
def api(shop: weir.Project) -> Client:
    return Client(shop)


@pytest.fixture(scope="module")
def admin(shop: weir.Project) -> dict[str, str]:
    _, token = shop.access.tokens().create("ada", "admin")
    return {"Authorization": f"Bearer {token}"}


def test_a_held_subject_is_not_erased_and_nothing_changes(
    shop: weir.Project, api: Client, admin: dict[str, str]
) -> None:
    runner = CliRunner()
    root = str(shop.root)
    placed = runner.invoke(
        cli,
        ["--project", root, "lifecycle", "hold", "add", "--subject", "3", "--reason", "claim 114"],
    )
    assert placed.exit_code == 0, placed.output
    [hold] = [h for h in shop.lifecycle.holds.list() if h.subject]
    # the hold names them by the keyed hash of their id, never the id
    assert hold.source is None and hold.subject is not None
    assert hold.subject.startswith("customer:") and len(hold.subject) == len("customer:") + 64
    assert hold.held in placed.output
    subjects = shop.subjects
    before = subjects.find(subjects.resolve(3)).as_dict()
    # finding them shows the hold: its id, reason, since when, and how to release it
    [shown] = before["holds"]
    release = f'weir lifecycle hold release {hold.hold_id} --reason "..."'
    assert shown["hold"] == hold.hold_id and shown["reason"] == "claim 114"
    assert shown["release"] == release and shown["by"] == hold.created_by
    assert shown["release_api"] == f"POST /api/v1/lifecycle/holds/{hold.hold_id}/release"
    assert shown["since"][:10] == hold.describe().split(" since ")[1][:10]
    listed = runner.invoke(cli, ["--project", root, "subject", "find", "3"])
    assert listed.exit_code == 0, listed.output
    said = " ".join(listed.stdout.split())
    assert f"under legal hold {hold.hold_id} since {shown['since'][:10]} (claim 114," in said
    assert f"release it with `{release}`" in said
    as_json = runner.invoke(cli, ["--project", root, "subject", "find", "3", "--format", "json"])
    assert json.loads(as_json.stdout)["holds"] == [shown]
    answer = api.post("/api/v1/subjects/find", json={"id": 3}, headers=admin)
    assert answer.status_code == 200 and answer.json()["holds"] == [shown]
    # another person's find names no hold
    assert subjects.find(subjects.resolve(4)).as_dict()["holds"] == []
    with pytest.raises(HeldError, match=f"customer 3 is under legal hold {hold.hold_id}"):
        subjects.erase(subjects.resolve(3), "GDPR art. 17")
    refused = runner.invoke(
        cli, ["--project", root, "subject", "erase", "3", "--reason", "GDPR art. 17"]
    )
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert refused.stderr.startswith(f"error: customer 3 is under legal hold {hold.hold_id}")
    assert f"weir lifecycle hold release {hold.hold_id}" in refused.stderr
    answer = api.post("/api/v1/subjects/erase", json={"id": 3, "reason": "r"}, headers=admin)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "held"
    # nothing was changed: no erasure begun, every row where it was
    assert shop.erasures.list() == []
    after = subjects.find(subjects.resolve(3)).as_dict()
    assert after["places"] == before["places"] and after["rows"] == before["rows"] > 0
    # released, the same request erases them
    shop.lifecycle.holds.release(hold.hold_id, "claim settled")
    assert subjects.find(subjects.resolve(3)).holds == ()  # released: no longer shown
    done = api.post("/api/v1/subjects/erase", json={"id": 3, "reason": "r"}, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["verified"] is True and done.json()["requested_by"] == "ada"


def test_a_subject_hold_needs_one_target_and_a_reason(shop: weir.Project) -> None:
    runner = CliRunner()
    root = str(shop.root)
    both = runner.invoke(
        cli,
        [
            "--project",
            root,
            "lifecycle",
            "hold",
            "add",
            "--source",
            "pos",
            "--subject",
            "4",
            "--reason",
            "x",
        ],
    )
    assert both.exit_code == 2 and "either --source NAME or --subject ID" in both.output
    blank = runner.invoke(
        cli, ["--project", root, "lifecycle", "hold", "add", "--subject", "4", "--reason", " "]
    )
    assert blank.exit_code == 1 and "needs a reason" in blank.stderr


def test_find_and_export_through_the_api_are_audited_under_the_caller(
    shop: weir.Project, api: Client, admin: dict[str, str]
) -> None:
    found = api.post("/api/v1/subjects/find", json={"email": "dan.open@example.com"}, headers=admin)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["id"] == "4" and body["rows"] > 0
    assert {p["table"] for p in body["places"]} >= {"raw.customers", "staging.customers"}
    [record] = shop.audit.records(kind="subject.find", limit=1)
    assert record.entry.user == "ada"
    assert record.entry.detail == {"subject_hash": shop.erasures.digest("customer", "4")}
    exported = api.post("/api/v1/subjects/export", json={"id": "4"}, headers=admin)
    assert exported.status_code == 200
    rows = exported.json()["tables"]["staging.customers"]
    assert rows[0]["email"] == "dan.open@example.com"  # an access request is in clear
    [export] = shop.audit.records(kind="subject.export", limit=1)
    assert export.entry.user == "ada"


def test_bad_requests_are_the_standard_error_and_echo_no_value(
    shop: weir.Project, api: Client, admin: dict[str, str]
) -> None:
    ambiguous = api.post(
        "/api/v1/subjects/find", json={"email": "shared@example.com"}, headers=admin
    )
    assert ambiguous.status_code == 400
    error = ambiguous.json()["error"]
    assert set(error) >= {"status", "code", "message", "fix"}
    assert "belongs to 2 customers (ids 1, 2)" in error["message"]
    unknown = api.post("/api/v1/subjects/find", json={"email": "nobody@example.com"}, headers=admin)
    assert unknown.status_code == 404 and "no customer has that email" in unknown.text
    missing = api.post("/api/v1/subjects/export", json={"id": 99}, headers=admin)
    assert missing.status_code == 404
    none = api.post("/api/v1/subjects/find", json={}, headers=admin)
    assert none.status_code == 400 and "exactly one of" in none.text
    extra = api.post("/api/v1/subjects/find", json={"address": "4 Main St"}, headers=admin)
    assert extra.status_code == 422 and "4 Main St" not in extra.text
    # true/false is no one's identifier: JSON's false must not be read as the id 0
    for path, body in (
        ("/api/v1/subjects/find", {"id": False}),
        ("/api/v1/lifecycle/holds", {"subject": False, "reason": "legal hold"}),
        ("/api/v1/lifecycle/holds", {"subject": True, "reason": "legal hold"}),
    ):
        assert api.post(path, json=body, headers=admin).status_code == 422, (path, body)
    for answer in (ambiguous, unknown, extra):
        assert not [e for e in [*EMAILS, "nobody@example.com"] if e in answer.text.lower()]
    # not an admin: refused before anything is looked up
    _, analyst = shop.access.tokens().create("ana", "analyst")
    denied = api.post(
        "/api/v1/subjects/find",
        json={"id": 4},
        headers={"Authorization": f"Bearer {analyst}"},
    )
    assert denied.status_code == 403
    assert api.post("/api/v1/subjects/find", json={"id": 4}).status_code == 401
    # no request's e-mail is anywhere in the audit log in clear
    logged = json.dumps(
        [[r.entry.action, r.entry.detail, r.entry.reason] for r in shop.audit.records(limit=500)],
        default=str,
    ).lower()
    assert not [e for e in [*EMAILS, "nobody@example.com"] if e in logged]


def test_the_api_holds_a_person(shop: weir.Project, api: Client, admin: dict[str, str]) -> None:
    placed = api.post(
        "/api/v1/lifecycle/holds", json={"subject": 4, "reason": "claim 7"}, headers=admin
    )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    assert body["source"] == "" and body["subject"].startswith("customer #")
    refused = api.post("/api/v1/subjects/erase", json={"id": 4, "reason": "r"}, headers=admin)
    assert refused.status_code == 409 and body["hold_id"] in refused.json()["error"]["message"]
    both = api.post(
        "/api/v1/lifecycle/holds",
        json={"subject": 4, "source": "pos", "reason": "x"},
        headers=admin,
    )
    assert both.status_code == 422 and "either a source or a subject" in both.text
    released = api.post(
        f"/api/v1/lifecycle/holds/{body['hold_id']}/release", json={}, headers=admin
    )
    assert released.status_code == 200 and released.json()["released"]
