"""The control panel, catalog, quality, audit and SQL pages over HTTP, in-process, as each role.

One project for the module (``panel_site``); each test signs in with a reference role's
API token. Runs are executed by a worker the test drives (the app's services do not
start in-process), so every step is deterministic.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import web_event
from panel_site import FIXED_MODEL, MODEL_FILE, build_panel_site, csrf_of, sign_in
from served import Served
from starlette.testclient import TestClient

import weir
from weir.serve.app import create_app


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_panel_site(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def project(site: Served) -> Iterator[weir.Project]:
    with weir.Project(site.root) as opened:
        yield opened


@pytest.fixture(scope="module")
def app(project: weir.Project) -> object:
    return create_app(project)


def client_as(app: object, site: Served, role: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    return client, sign_in(client, site.tokens[role])


def test_rerun_a_failed_run_from_the_panel_until_it_succeeds(
    app: object, site: Served, project: weir.Project
) -> None:
    admin, csrf = client_as(app, site, "admin")
    made = admin.post(
        "/panel/runs",
        data={"csrf_token": csrf, "what": "models", "models": ["marts.panel_check"]},
    )
    assert made.status_code == 303
    first = int(made.headers["location"].rsplit("/", 1)[1])
    queued = admin.get(f"/panel/runs/{first}").text
    assert 'data-status="queued"' in queued and 'http-equiv="refresh"' in queued
    # the list refreshes its rows from its script, never the page (its forms keep their input)
    listing = admin.get("/panel").text
    assert 'data-live-runs="true"' in listing and 'http-equiv="refresh"' not in listing
    assert project.orchestrate.worker().run_once() is not None

    failed = admin.get(f"/panel/runs/{first}").text
    assert 'id="run-status" data-status="failed"' in failed
    assert "no_such_column" in failed and 'id="rerun-failed"' in failed
    assert 'http-equiv="refresh"' not in failed  # finished: no more refreshing
    finished = admin.get("/panel?status=failed").text
    assert f'data-run="{first}" data-status="failed"' in finished
    assert 'data-live-runs="false"' in finished

    (site.root / MODEL_FILE).write_text(FIXED_MODEL, encoding="utf-8")
    again = admin.post(f"/panel/runs/{first}/rerun", data={"csrf_token": csrf, "steps": "failed"})
    second = int(again.headers["location"].rsplit("/", 1)[1])
    assert second != first
    assert project.orchestrate.worker().run_once() is not None
    done = admin.get(f"/panel/runs/{second}").text
    assert 'id="run-status" data-status="succeeded"' in done
    assert f'href="/panel/runs/{first}"' in done  # it says which run it re-runs
    run = project.runs.get(second)
    assert (run.trigger, run.triggered_by, run.parent_run) == ("rerun", "ada", first)


def test_cancel_and_backfill_from_the_panel(
    app: object, site: Served, project: weir.Project
) -> None:
    admin, csrf = client_as(app, site, "admin")
    made = admin.post(
        "/panel/runs/backfill",
        data={
            "csrf_token": csrf,
            "models": ["marts.sales_daily"],
            "start": "2025-01-13",
            "end": "2025-01-15",
        },
    )
    run_id = int(made.headers["location"].rsplit("/", 1)[1])
    run = project.runs.get(run_id)
    assert run.trigger == "backfill" and run.plan[0].args["start"] == "2025-01-13"
    admin.post(f"/panel/runs/{run_id}/cancel", data={"csrf_token": csrf})
    assert project.runs.get(run_id).status == "cancelled"
    # an empty window is the library's error, shown as a page that says what to do
    empty = admin.post(
        "/panel/runs/backfill",
        data={
            "csrf_token": csrf,
            "models": ["marts.sales_daily"],
            "start": "2025-01-15",
            "end": "2025-01-15",
        },
    )
    assert empty.status_code == 400 and "is empty" in empty.text and "later day" in empty.text


def test_pause_resume_and_set_a_schedule(app: object, site: Served, project: weir.Project) -> None:
    admin, csrf = client_as(app, site, "admin")
    paused = admin.post("/panel/schedules/nightly", data={"csrf_token": csrf, "action": "pause"})
    assert paused.status_code == 303
    page = admin.get("/panel/schedules").text
    assert 'data-schedule="nightly" data-paused="true"' in page
    assert project.schedules.get("nightly").paused
    changed = project.audit.records("schedule.change", "ada", limit=1)[0]
    assert changed.entry.action == "pause nightly"

    admin.post("/panel/schedules/nightly", data={"csrf_token": csrf, "action": "resume"})
    admin.post(
        "/panel/schedules/nightly",
        data={"csrf_token": csrf, "action": "set", "cron": "45 3 * * *"},
    )
    state = project.schedules.get("nightly")
    assert not state.paused and state.override_cron == "45 3 * * *"
    bad = admin.post(
        "/panel/schedules/nightly", data={"csrf_token": csrf, "action": "set", "cron": "61 * * *"}
    )
    assert bad.status_code == 400 and "weir schedule set" in html.unescape(bad.text)
    admin.post("/panel/schedules/nightly", data={"csrf_token": csrf, "action": "reset"})
    assert project.schedules.get("nightly").override_cron is None


def test_forms_without_the_csrf_token_are_refused(
    app: object, site: Served, project: weir.Project
) -> None:
    admin, _ = client_as(app, site, "admin")
    refused = admin.post("/panel/schedules/nightly", data={"action": "pause"})
    assert refused.status_code == 403
    forged = admin.post("/panel/schedules/nightly", data={"csrf_token": "x", "action": "pause"})
    assert forged.status_code == 403
    assert not project.schedules.get("nightly").paused


@pytest.mark.parametrize(
    "path", ["/panel", "/panel/schedules", "/panel/sources", "/panel/quarantine", "/audit"]
)
def test_pages_outside_the_role_are_not_found(app: object, site: Served, path: str) -> None:
    sales, csrf = client_as(app, site, "sales")
    assert sales.get(path).status_code == 404
    menu = sales.get("/catalog").text
    assert 'href="/panel"' not in menu and 'href="/audit"' not in menu
    if path == "/panel":
        posted = sales.post(
            "/panel/schedules/nightly", data={"csrf_token": csrf, "action": "pause"}
        )
        assert posted.status_code == 404


def test_sources_streams_and_the_quarantine(
    app: object, site: Served, project: weir.Project
) -> None:
    admin, csrf = client_as(app, site, "admin")
    sources = admin.get("/panel/sources").text
    for status in project.sources.status():
        assert f'data-source="{status.source}"' in sources
    pos = next(s for s in project.sources.status() if s.source == "pos")
    assert f">{pos.totals.received:,}<" in sources

    summary = admin.get("/panel/quarantine").text
    assert (
        'data-source="crm_interactions"' in summary
        and "rating: 9 is above the maximum 5" in summary
    )
    held = admin.get("/panel/quarantine/pos", params={"reason": "rule discount_within_revenue"})
    assert held.status_code == 200
    assert held.text.count("discount_applied is larger than revenue") == 2  # the option, the row
    assert "T003-20250117-0901" in held.text
    read = project.audit.records("query", "ada", limit=1)[0]
    assert read.entry.action == "quarantine pos reason=rule discount_within_revenue"

    before = next(s for s in project.sources.status() if s.source == "crm_interactions")
    replayed = admin.post("/panel/quarantine/crm_interactions/replay", data={"csrf_token": csrf})
    assert replayed.status_code == 303
    shown = admin.get(replayed.headers["location"]).text
    # the contract now takes ratings up to 10: the held rating of 9 moves to staging
    assert re.search(r'id="replayed">Replayed: 1 record\(s\) now pass', shown)
    after = next(s for s in project.sources.status() if s.source == "crm_interactions")
    assert after.held == before.held - 1
    # the reasons are counted once per snapshot of the quarantine: the replay made a new one
    summary = admin.get("/panel/quarantine").text
    assert "rating: 9 is above the maximum 5" not in summary
    assert project.audit.records("ingest", "ada", limit=1)[0].entry.action == (
        "quarantine replay crm_interactions"
    )


def test_catalog_lists_what_the_role_may_read_with_lineage(app: object, site: Served) -> None:
    sales, _ = client_as(app, site, "sales")
    listing = sales.get("/catalog").text
    shown = set(re.findall(r'data-dataset="([^"]+)"', listing))
    assert shown == {"marts.sales_daily", "marts.stock_daily", "marts.product_daily"}
    assert set(re.findall(r'data-dataset="([^"]+)"', sales.get("/catalog?q=stock_daily").text)) == {
        "marts.stock_daily"
    }
    assert sales.get("/catalog/staging.pos").status_code == 404
    page = sales.get("/catalog/marts.sales_daily", params={"column": "net_sales"}).text
    assert re.findall(r'data-node="([^"]+)"', page) == []  # nothing upstream it may read
    assert "Nothing your role may read feeds marts.sales_daily.net_sales" in page

    admin, _ = client_as(app, site, "admin")
    page = admin.get("/catalog/marts.sales_daily", params={"column": "net_sales"}).text
    assert set(re.findall(r'data-node="([^"]+)"', page)) == {
        "marts.sales_daily.net_sales",
        "warehouse.fact_sales_lines.net_sales",
        "staging.pos.revenue",
        "staging.pos.discount_applied",
    }
    # each box links to its own lineage: upstream and downstream are one click away
    assert 'href="/catalog/staging.pos?column=revenue#lineage"' in page
    assert 'data-column="customer_id"' in admin.get("/catalog/staging.pos").text


def test_sql_console_masks_for_a_role_without_pii(app: object, site: Served) -> None:
    query = "SELECT email FROM warehouse.dim_customer ORDER BY customer_id LIMIT 3"
    values = {}
    for role in ("admin", "analyst"):
        client, csrf = client_as(app, site, role)
        answer = client.post("/sql", data={"csrf_token": csrf, "sql": query})
        assert answer.status_code == 200, answer.text
        values[role] = re.findall(r"<td>([^<]*)</td>", answer.text)
        assert 'id="timing" data-row-count="3"' in answer.text
    assert len(values["admin"]) == 3 and all("@" in v for v in values["admin"])
    assert all("@" not in v for v in values["analyst"])  # hashed, never in clear
    assert values["admin"] != values["analyst"]


def test_sql_console_errors_keep_the_query_and_csv_equals_the_api(
    app: object, site: Served
) -> None:
    sales, csrf = client_as(app, site, "sales")
    bad = sales.post("/sql", data={"csrf_token": csrf, "sql": "SELECT * FROM staging.pos"})
    assert bad.status_code == 403 or bad.status_code == 404
    assert "you may read" in bad.text and "SELECT * FROM staging.pos</textarea>" in bad.text
    hostile = "SELECT '<script>alert(1)</script>' AS x"
    shown = sales.post("/sql", data={"csrf_token": csrf, "sql": hostile}).text
    assert "<script>alert(1)</script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown

    query = "SELECT region, sum(net_sales) AS net FROM marts.sales_daily GROUP BY 1 ORDER BY 1"
    exported = sales.post("/sql/csv", data={"csrf_token": csrf, "sql": query})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    api = sales.post("/api/v1/query", json={"sql": query}, headers=site.headers("sales")).json()
    assert rows[0] == ["region", "net"]
    assert [[r[0], float(r[1])] for r in rows[1:]] == [[r[0], float(r[1])] for r in api["rows"]]
    assert sales.post("/sql/csv", data={"sql": query}).status_code == 403  # no CSRF token


def test_quality_flags_silences_and_dirty_text(
    app: object, site: Served, project: weir.Project
) -> None:
    sales, _ = client_as(app, site, "sales")
    seen = sales.get("/quality").text
    assert 'data-rule="stockouts"' in seen and 'id="flags"' not in seen  # alerts only

    admin, csrf = client_as(app, site, "admin")
    reason = "<img src=x onerror=alert(1)> till outage"
    made = admin.post(
        "/quality/flags",
        data={"csrf_token": csrf, "day": "2025-01-14", "kpi": "net_sales", "reason": reason},
    )
    assert made.status_code == 303
    page = admin.get("/quality").text
    assert 'data-day="2025-01-14"' in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; till outage" in page
    removed = admin.post(
        "/quality/flags/remove",
        data={"csrf_token": csrf, "day": "2025-01-14", "kpi": "net_sales", "reason": "false alarm"},
    )
    assert removed.status_code == 303
    assert not [f for f in project.quality.flags() if f.day == date(2025, 1, 14) and f.kpi]
    assert project.audit.records("flag.remove", "ada", limit=1)[0].entry.detail == {
        "reason": "false alarm"
    }

    until = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    quiet = admin.post(
        "/quality/alerts/stockouts/silence", data={"csrf_token": csrf, "until": until}
    )
    assert quiet.status_code == 303
    rule = next(r for r in project.alerts.status() if r["rule"] == "stockouts")
    assert rule["silenced_until"] is not None and rule["silenced_until"].startswith(until[:13])
    past = admin.post(
        "/quality/alerts/stockouts/silence", data={"csrf_token": csrf, "until": "2020-01-01T00:00"}
    )
    assert past.status_code == 400 and "not in the future" in past.text
    assert 'data-model="marts.sales_daily" data-status="built"' in page


def test_audit_page_filters_and_verifies(app: object, site: Served) -> None:
    admin, _ = client_as(app, site, "admin")
    page = admin.get("/audit", params={"kind": "schedule.change"}).text
    kinds = set(re.findall(r'data-kind="([^"]+)"', page))
    assert kinds <= {"schedule.change"}
    verified = admin.get("/audit", params={"verify": "true"}).text
    assert 'id="verified" data-ok="true"' in verified
    assert admin.get("/audit", params={"kind": "nonsense"}).status_code in (400, 422)
    refused = admin.get("/audit", params={"outcome": "refused"}).text
    assert "✓ allowed" not in refused
    assert csrf_of(page)


def test_bad_input_answers_a_page_that_says_what_to_do(app: object, site: Served) -> None:
    admin, csrf = client_as(app, site, "admin")
    missing = admin.get("/panel/runs/999999")
    assert missing.status_code == 404 and "no run 999999" in missing.text
    assert "weir runs list" in missing.text
    unknown = admin.get("/panel/quarantine/poss")
    assert unknown.status_code == 404 and "pos" in unknown.text
    assert admin.get("/catalog/marts.nope").status_code == 404
    assert admin.get("/catalog/marts.sales_daily", params={"column": "nope"}).status_code == 404
    nothing = admin.post("/panel/runs", data={"csrf_token": csrf, "what": "models"})
    assert nothing.status_code == 400 and "no model was chosen" in nothing.text
    queued = admin.post(
        "/panel/runs", data={"csrf_token": csrf, "what": "sources", "sources": ["stores"]}
    )
    run_id = queued.headers["location"].rsplit("/", 1)[1]
    early = admin.post(f"/panel/runs/{run_id}/rerun", data={"csrf_token": csrf, "steps": "all"})
    assert early.status_code == 400 and "re-run a finished run" in early.text
    admin.post(f"/panel/runs/{run_id}/cancel", data={"csrf_token": csrf})
    assert admin.get("/panel", params={"status": "nonsense"}).status_code in (400, 422)
    no_sql = admin.post("/sql", data={"csrf_token": csrf, "sql": "  "})
    assert no_sql.status_code == 400 and "there is no query to run" in no_sql.text
    no_reason = admin.post(
        "/quality/flags", data={"csrf_token": csrf, "day": "2025-01-14", "reason": ""}
    )
    assert no_reason.status_code in (400, 422)


PAGES = (
    "/panel",
    "/panel/schedules",
    "/panel/sources",
    "/panel/quarantine",
    "/panel/quarantine/pos",
    "/catalog",
    "/catalog/marts.sales_daily",
    "/quality",
    "/audit",
    "/sql",
)


def test_every_page_has_the_policy_and_no_inline_script(app: object, site: Served) -> None:
    admin, _ = client_as(app, site, "admin")
    for path in PAGES:
        page = admin.get(path)
        assert page.status_code == 200, path
        assert "script-src 'self'" in page.headers["content-security-policy"], path
        scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
        assert all('type="application/json"' in s for s in scripts), (path, scripts)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", page.text), path
        assert 'href="javascript:' not in page.text, path
        # every form that changes something carries the session's token
        for form in re.findall(r'<form method="post".*?</form>', page.text, re.S):
            assert 'name="csrf_token"' in form, (path, form[:80])


def test_streams_show_their_rate_and_backlog(
    app: object, site: Served, project: weir.Project
) -> None:
    key = project.access.write_keys().create(["web_traffic"], "panel test").key
    admin, _ = client_as(app, site, "admin")
    events = [web_event(f"panel-{n}", session_id="panel") for n in range(3)]
    posted = admin.post(
        "/collect/v1/web_traffic", json=events, headers={"Authorization": f"Bearer {key}"}
    )
    assert posted.status_code == 200, posted.text
    collector = app.state.collector  # type: ignore[attr-defined]
    assert collector.backlog("web_traffic") == 3  # logged, not yet in the lake
    collector.flush("web_traffic")

    def rate() -> float:
        status = project.streams.status()
        return next(s for s in status if s.stream == "collector:web_traffic").events_per_second

    before = rate()
    page = admin.get("/panel/sources").text
    after = rate()
    row = re.search(r"<tr><th scope=\"row\">collector:web_traffic.*?</tr>", page, re.S)
    assert row is not None, page[page.find("Streams") :][:400]
    shown, backlog = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    # events/s over the last five minutes (it falls as time passes with no new event, so the
    # page's figure lies between the two asked around it), and nothing left in the log
    assert after > 0 and backlog == "0"
    assert round(after, 2) - 0.005 <= float(shown.replace(",", "")) <= round(before, 2) + 0.005
