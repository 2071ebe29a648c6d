"""REST APIs as a source, against a real HTTP server that paginates, rate-limits and fails.

Every extract goes through the one batch path: its pages are landed as one
JSON-lines file and ingested like any file; the API's cursor is committed with
the batch. A page that fails after its retries leaves nothing landed and
nothing committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_counts, ingest_one, rows
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_api import TOKEN, Api, rest_api

import weir
from weir.errors import WeirError
from weir.ingest.rest import RestClient

PARCELS = """\
name: parcels
description: A carrier's parcels, from its REST API.
format: rest
location: landing/parcels/*.jsonl
key: [id]
rest:
  url: {url}/parcels/{style}
  records: data.items
  auth: {{kind: bearer, env: PARCELS_TOKEN}}
  pagination: {pagination}
  incremental: {{param: updated_since, field: updated_at}}
  timeout: 0.3
  retries: {retries}
  backoff: 0.01
columns:
  - {{name: id, type: int, nullable: false}}
  - {{name: status, type: string, enum: [created, shipped, delivered]}}
  - {{name: updated_at, type: string, nullable: false}}
"""

PAGINATION = {
    "page": "{style: page, size_param: per_page, size: 2}",
    "offset": "{style: offset, param: offset, size_param: limit, size: 2}",
    "cursor": "{style: cursor, size_param: per_page, size: 2, next: meta.next_cursor}",
    "link": "{style: link}",
}


def parcel(number: int, status: str = "created") -> dict[str, object]:
    return {"id": number, "status": status, "updated_at": f"2026-01-01T00:00:{number:02d}Z"}


FIVE = [parcel(n) for n in range(1, 6)]


def add_source(root: Path, api: Api, style: str, retries: int = 3) -> None:
    text = PARCELS.format(url=api.url, style=style, pagination=PAGINATION[style], retries=retries)
    (root / "sources" / "parcels.yml").write_text(text)


def opened(root: Path, api: Api, style: str, retries: int = 3) -> weir.Project:
    add_source(root, api, style, retries)
    return weir.Project(root)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARCELS_TOKEN", TOKEN)


def cursor(project: weir.Project) -> str | None:
    return project.sources.ingestor.ledger.positions("rest:").get("rest:parcels")


def landed(root: Path) -> list[Path]:
    return (
        sorted((root / "landing" / "parcels").glob("*"))
        if (root / "landing" / "parcels").exists()
        else []
    )


@pytest.mark.parametrize("style", ["page", "offset", "cursor", "link"])
def test_each_pagination_style_reads_every_record_then_resumes(
    project_root: Path, style: str
) -> None:
    with rest_api(FIVE) as api, opened(project_root, api, style) as project:
        result = ingest_one(project, "parcels")
        assert_counts(result, received=5, accepted=5, quarantined=0, duplicates=0)
        assert [r["id"] for r in rows(project, "SELECT id FROM staging.parcels ORDER BY id")] == [
            1,
            2,
            3,
            4,
            5,
        ]
        assert cursor(project) == "2026-01-01T00:00:05Z"
        # 5 records in pages of 2: three pages, the last one short
        assert len(api.asked) == 3

        # nothing new: no batch, and the cursor was sent
        assert ingest_one(project, "parcels").batch_id is None
        assert "updated_since=2026-01-01T00%3A00%3A05Z" in api.asked[-1]

        api.records += [parcel(6), parcel(7, "shipped")]
        again = ingest_one(project, "parcels")
        assert_counts(again, received=2, accepted=2, quarantined=0, duplicates=0)
        assert cursor(project) == "2026-01-01T00:00:07Z"
        assert rows(project, "SELECT count(*) AS n FROM staging.parcels") == [{"n": 7}]
        # each extract is one landed file, kept: the raw answer stays replayable
        assert len(landed(project_root)) == 2


def test_rate_limits_5xx_and_timeouts_are_waited_out_and_retried(project_root: Path) -> None:
    with rest_api(FIVE) as api, opened(project_root, api, "cursor") as project:
        api.faults = ["", "429", "500", "timeout", ""]  # page 2 needs three retries
        result = ingest_one(project, "parcels")
        assert_counts(result, received=5, accepted=5, quarantined=0, duplicates=0)
        # the limiter answers 429 again to anything asked before its Retry-After: none came
        assert api.refused_early == 0
        assert len(api.asked) == 3 + 3


def test_a_page_failing_after_its_retries_commits_nothing(project_root: Path) -> None:
    with rest_api(FIVE) as api, opened(project_root, api, "offset", retries=2) as project:
        api.faults = ["", "500", "500", "500"]  # page 2 fails three times: more than 2 retries
        with pytest.raises(WeirError) as failed:
            project.sources.ingest(["parcels"])
        assert failed.value.what == (
            "source parcels: page 2 failed after 2 retries (500 Internal Server Error); "
            "nothing of this extract was stored"
        )
        assert landed(project_root) == []
        assert cursor(project) is None
        assert not project.lake.exists("staging", "parcels")
        assert project.sources.ingestor.ledger.batches("parcels") == []

        # the API is back: the next run reads everything, once
        result = ingest_one(project, "parcels")
        assert_counts(result, received=5, accepted=5, quarantined=0, duplicates=0)


def test_a_record_changed_between_pages_keeps_its_newest_version(project_root: Path) -> None:
    with rest_api(FIVE) as api, opened(project_root, api, "cursor") as project:
        # once page 1 (records 1 and 2) is served, record 2 ships: it moves to the end
        api.change_after_first_page = {
            "id": 2,
            "status": "shipped",
            "updated_at": "2026-01-01T00:00:09Z",
        }
        result = ingest_one(project, "parcels")
        # record 2 was served twice: the newest is kept, the stale copy counted a duplicate
        assert_counts(result, received=6, accepted=5, quarantined=0, duplicates=1)
        assert rows(project, "SELECT id, status FROM staging.parcels ORDER BY id") == [
            {"id": 1, "status": "created"},
            {"id": 2, "status": "shipped"},
            {"id": 3, "status": "created"},
            {"id": 4, "status": "created"},
            {"id": 5, "status": "created"},
        ]
        assert cursor(project) == "2026-01-01T00:00:09Z"


def test_secrets_come_from_the_environment_only(
    project_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rest_api(FIVE) as api, opened(project_root, api, "page") as project:
        monkeypatch.delenv("PARCELS_TOKEN")
        with pytest.raises(WeirError) as missing:
            project.sources.ingest(["parcels"])
        assert missing.value.what == (
            "source parcels needs the environment variable PARCELS_TOKEN, which is not set"
        )
        monkeypatch.setenv("PARCELS_TOKEN", "wrong")
        with pytest.raises(WeirError) as refused:
            project.sources.ingest(["parcels"])
        assert (
            refused.value.what == "source parcels: the API refused the request (401 Unauthorized)"
        )
        assert "PARCELS_TOKEN" in (refused.value.fix or "")
        assert "wrong" not in str(refused.value)
        assert api.asked and landed(project_root) == []


@pytest.mark.parametrize(
    ("kind", "sent"),
    [
        ("{kind: bearer, env: KEY}", {"authorization": "Bearer k-1"}),
        ("{kind: header, env: KEY, name: X-Api-Token}", {"x-api-token": "k-1"}),
        ("{kind: query, env: KEY}", {"api_key": "k-1"}),
        ("{kind: basic, env: KEY, username_env: USER}", {"authorization": "Basic dTprLTE="}),
    ],
)
def test_each_auth_kind_sends_its_secret(kind: str, sent: dict[str, str]) -> None:
    import httpx
    import yaml

    from weir.project.config import SourceConfig

    text = PARCELS.format(
        url="http://127.0.0.1:9", style="page", pagination="{style: none}", retries=0
    )
    config = yaml.safe_load(text)
    config["rest"]["auth"] = yaml.safe_load(kind)
    client = RestClient(SourceConfig(**config), env={"KEY": "k-1", "USER": "u"})
    request = httpx.Client(headers=client.headers, auth=client.auth).build_request(
        "GET", "http://127.0.0.1:9/x", params=client.auth_params
    )
    if client.auth is not None:
        request = next(client.auth.auth_flow(request))
    found = {**{k.lower(): v for k, v in request.headers.items()}, **dict(request.url.params)}
    assert {k: found.get(k) for k in sent} == sent


CRASHING = """
import sys, weir
weir.Project(sys.argv[1]).sources.ingest(["parcels"])
"""


def test_killed_before_the_ledger_commit_the_extract_is_read_again_once(project_root: Path) -> None:
    with rest_api(FIVE) as api:
        add_source(project_root, api, "link")
        env = {**os.environ, "WEIR_CRASH_AT": "ledger"}
        run = subprocess.run(
            [sys.executable, "-c", CRASHING, str(project_root)], env=env, check=False
        )
        assert run.returncode == 137
        assert len(landed(project_root)) == 1  # landed, but its batch never committed
        with weir.Project(project_root) as project:
            assert cursor(project) is None
            result = ingest_one(project, "parcels")
            # the crashed batch was rolled back; the leftover file and a fresh extract from the
            # old cursor are read together: every parcel once, the second copies duplicates
            assert_counts(result, received=10, accepted=5, quarantined=0, duplicates=5)
            assert rows(project, "SELECT count(*) AS n FROM staging.parcels") == [{"n": 5}]
            assert cursor(project) == "2026-01-01T00:00:05Z"


def test_sources_test_shows_a_first_page_and_stores_nothing(project_root: Path) -> None:
    from click.testing import CliRunner

    from weir.cli.main import cli

    bad = {"id": 6, "status": "lost", "updated_at": "2026-01-01T00:00:06Z"}
    with rest_api([*FIVE, bad]) as api:
        add_source(project_root, api, "cursor")
        result = CliRunner().invoke(
            cli, ["--project", str(project_root), "sources", "test", "parcels", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == [
            {"at": 0, "id": "1", "status": "created", "updated_at": "2026-01-01T00:00:01Z", "_reasons": []},
            {"at": 1, "id": "2", "status": "created", "updated_at": "2026-01-01T00:00:02Z", "_reasons": []},
        ]  # fmt: skip
        assert len(api.asked) == 1  # one page only
        assert landed(project_root) == []
        with weir.Project(project_root) as project:
            assert cursor(project) is None
            assert project.sources.ingestor.ledger.batches("parcels") == []
            probe, _ = project.sources.test("parcels", limit=10)
        assert probe.reached == f"{api.url}/parcels/cursor: the first page held 2 record(s)"
        assert probe.reads == "every record (no cursor stored yet)"


def test_sources_discover_proposes_a_contract_from_an_api_answer(project_root: Path) -> None:
    from click.testing import CliRunner

    from weir.cli.main import cli

    with rest_api(FIVE) as api:
        args = [
            "--project",
            str(project_root),
            "sources",
            "discover",
            f"{api.url}/parcels/cursor",
            "--name",
            "parcels",
        ]
        result = CliRunner().invoke(cli, [*args, "--token-env", "PARCELS_TOKEN", "--write"])
        assert result.exit_code == 0, result.output
        written = (project_root / "sources" / "parcels.yml").read_text()
        assert written == result.stdout
        assert written == (
            "name: parcels\n"
            f"description: Records of {api.url}/parcels/cursor, proposed by weir sources discover; review it\n"
            "format: rest\n"
            "location: landing/parcels/*.jsonl\n"
            "key:\n- id\n"
            "rest:\n"
            f"  url: {api.url}/parcels/cursor\n"
            "  records: data.items\n"
            "  pagination:\n    style: cursor\n    next: meta.next_cursor\n"
            "columns:\n"
            "  - {name: id, type: int, nullable: false}\n"
            "  - {name: status, type: string, nullable: false}\n"
            "  - {name: updated_at, type: string, nullable: false}\n"
        )
        again = CliRunner().invoke(cli, [*args, "--token-env", "PARCELS_TOKEN", "--write"])
        assert again.exit_code == 1
        assert "sources/parcels.yml already exists" in again.stderr
        # the proposal is a source weir can ingest as it stands (after adding auth)
        with weir.Project(project_root) as project:
            assert project.files.source("parcels").rest is not None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 99)), max_size=30))
def test_landing_order_keeps_every_record_and_puts_each_keys_newest_first(
    served: list[tuple[int, int]],
) -> None:
    import yaml

    from weir.project.config import SourceConfig

    text = PARCELS.format(
        url="http://127.0.0.1:9", style="page", pagination="{style: none}", retries=0
    )
    client = RestClient(SourceConfig(**yaml.safe_load(text)), env={"PARCELS_TOKEN": "t"})
    records = [{"id": key, "version": n} for n, (key, _) in enumerate(served)]
    landed_texts = client._newest_first(records)
    landed_records = [json.loads(t) for t in landed_texts]
    # every served record is landed exactly once
    assert sorted(r["version"] for r in landed_records) == list(range(len(served)))
    # each key's first landed record is its last served one
    for key in {r["id"] for r in records}:
        first = next(r for r in landed_records if r["id"] == key)
        assert first["version"] == max(r["version"] for r in records if r["id"] == key)


def test_sigkill_in_the_middle_of_an_extract_lands_and_commits_nothing(project_root: Path) -> None:
    import signal
    import time

    with rest_api(FIVE) as api:
        add_source(project_root, api, "page")
        api.faults = ["slow"] * 10
        child = subprocess.Popen([sys.executable, "-c", CRASHING, str(project_root)])
        while len(api.asked) < 2 and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert landed(project_root) == []
        # a landing a dead process left half-written is cleared; one a live process writes is not
        folder = project_root / "landing" / "parcels"
        folder.mkdir(parents=True)
        dead = folder / f".parcels_old.jsonl.{2**22 + 7}.partial"
        live = folder / f".parcels_now.jsonl.{os.getpid()}.partial"
        dead.write_text('{"id": 1')
        live.write_text('{"id": 2')
        api.faults = []
        with weir.Project(project_root) as project:
            assert project.sources.ingestor.ledger.batches("parcels") == []
            result = ingest_one(project, "parcels")
            assert_counts(result, received=5, accepted=5, quarantined=0, duplicates=0)
            assert cursor(project) == "2026-01-01T00:00:05Z"
        assert not dead.exists() and live.exists()


def test_retry_after_in_seconds_or_as_a_date() -> None:
    import email.utils
    from datetime import UTC, datetime, timedelta

    import httpx

    from weir.ingest.rest import _retry_after

    def answer(value: str | None) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value} if value else {})

    assert _retry_after(answer("7"), 0.5) == 7.0
    assert _retry_after(answer(None), 0.5) == 0.5
    assert _retry_after(answer("soon"), 0.5) == 0.5
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    assert _retry_after(answer(past), 0.5) == 0.0
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    assert 3500 < _retry_after(answer(later), 0.5) <= 3600
