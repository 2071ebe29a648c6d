"""Quality checks on a real project: freshness, drift, KPI anomalies, flagged days, CLI and API.

The project is the example retailer with one small model and two KPIs over
POS (as ``test_metrics.py`` does), and POS history written by hand: net sales
of 100 a weekday, 200 on Saturdays and 50 on Sundays, from Monday 2025-01-06
for six weeks, with a drop and a spike planted on the last weekend.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from conftest import T0, drop_sections, land, pos_csv, pos_line

import weir
from weir.cli.main import cli
from weir.errors import NotFoundError
from weir.quality.freshness import Ages, freshness_check
from weir.serve.app import create_app

DAY = 86_400
MONDAY = T0 + 5 * DAY  # 2025-01-06 12:00 UTC
FIRST = date(2025, 1, 6)
SATURDAY = date(2025, 2, 15)  # planted: 60 instead of 200
SUNDAY = date(2025, 2, 16)  # planted: 150 instead of 50
EARLY = date(2025, 1, 25)  # planted: 5 instead of 200, with only 2 Saturdays before it

SALES = """/*
grain: [transaction_id]
*/
SELECT transaction_id, CAST(timestamp AS DATE) AS day, quantity, revenue AS net_sales
FROM staging.pos
"""

METRICS = """kpis:
  - name: net_sales
    team: sales
    description: Net sales
    mart: marts.sales
    time: day
    value: sum(net_sales)
    empty: zero
  - name: units
    team: sales
    description: Units sold
    mart: marts.sales
    time: day
    value: sum(quantity)
    empty: zero
"""

PATTERN = [100, 100, 100, 100, 100, 200, 50]  # Monday … Sunday
PLANTED = {SATURDAY: 60, SUNDAY: 150, EARLY: 5}


def net_sales_of(day: date) -> int:
    return PLANTED.get(day, PATTERN[day.weekday()])


@pytest.fixture
def shop(project_root: Path) -> Iterator[weir.Project]:
    shutil.rmtree(project_root / "models", ignore_errors=True)
    shutil.rmtree(project_root / "metrics", ignore_errors=True)
    model = project_root / "models" / "marts" / "sales.sql"
    model.parent.mkdir(parents=True)
    model.write_text(SALES, encoding="utf-8")
    (project_root / "metrics").mkdir()
    (project_root / "metrics" / "test.yml").write_text(METRICS, encoding="utf-8")
    lines = [
        pos_line(
            f"T{d}",
            quantity=1,
            revenue=net_sales_of(FIRST + timedelta(d)),
            timestamp=MONDAY + d * DAY,
        )
        for d in range(42)
    ]
    land(project_root, "pos", "pos_history.csv", pos_csv(*lines))
    # without the example's marts, its row filters on them have nothing to filter
    config = project_root / "weir.yml"
    kept = [line for line in config.read_text().splitlines() if "region = 'North'" not in line]
    config.write_text("\n".join(kept).replace("    row_filters:\n", "") + "\n")
    drop_sections(project_root, "alerts", "schedules")  # they name the example's KPIs and models
    with weir.Project(project_root) as project:
        project.run()
        yield project


def month(project: weir.Project, kpi: str, exclude: bool) -> float:
    rows = project.kpis.answer(
        kpi, "month", start=date(2025, 2, 1), end=date(2025, 2, 28), exclude_flagged=exclude
    ).to_pylist()
    return float(rows[0]["value"])


# -- KPI anomalies and flagged days -----------------------------------------------------------
def test_a_planted_drop_and_spike_are_flagged_and_left_out(shop: weir.Project) -> None:
    checks = shop.quality.run(kpis=["net_sales"], since=FIRST)
    failing = [c for c in checks if c.state != "ok"]
    # Saturday 2025-02-15: the level (the 7 days before: 50 100 100 100 100 100 200) is 100,
    # Saturdays' ratio to it 2 (the early collapse of 0.05 is ignored by the median; every
    # other day sits on its weekday's median, so the pooled MAD is 0): spread 5 % of 2 = 0.1,
    # range 2 ± 6 * 0.1 → 140..260. Sunday: its level still 100 (60 replaced 200), ratio 0.5,
    # spread 0.025 → 0.5 ± 0.15 → 35..65. The collapse of 2025-01-25 had only 2 Saturdays
    # before it: not judged.
    assert [(c.day, c.observed, c.expected_low, c.expected_high) for c in failing] == [
        (SATURDAY, 60, pytest.approx(140), pytest.approx(260)),
        (SUNDAY, 150, pytest.approx(35), pytest.approx(65)),
    ]
    assert failing[0].message == "kpi net_sales on 2025-02-15: 60 vs expected 140\u2013260 (drop)"
    assert [c.state for c in failing] == ["error", "error"]
    flags = shop.quality.flags()
    assert [(f.day, f.kpi, f.flagged_by, f.by_name) for f in flags] == [
        (SATURDAY, "net_sales", "auto", "quality:kpi_anomaly"),
        (SUNDAY, "net_sales", "auto", "quality:kpi_anomaly"),
    ]
    # February: 2 * (200 + 50 + 5 * 100) + 60 + 150 = 1710; without the flagged days 1500
    assert month(shop, "net_sales", exclude=False) == 1710
    assert month(shop, "net_sales", exclude=True) == 1500
    # the flags concern net_sales only: units (one a day, 16 days) keeps every day
    assert month(shop, "units", exclude=True) == 16
    # the results are recorded: the latest of each check
    assert {(c.kind, c.subject, c.day) for c in shop.quality.checks()} == {
        ("kpi_anomaly", "net_sales", SATURDAY),
        ("kpi_anomaly", "net_sales", SUNDAY),
    }


def test_a_day_found_normal_again_loses_its_automatic_flag(
    shop: weir.Project, project_root: Path
) -> None:
    shop.quality.run(kpis=["net_sales"], since=FIRST)
    assert [f.day for f in shop.quality.flags()] == [SATURDAY, SUNDAY]
    # the Saturday's late file arrives: 60 + 140 = 200, a normal Saturday
    late = MONDAY + 40 * DAY + 3600
    land(project_root, "pos", "pos_late.csv", pos_csv(pos_line("L1", revenue=140, timestamp=late)))
    shop.run()
    shop.quality.run(kpis=["net_sales"], since=FIRST)
    assert [f.day for f in shop.quality.flags()] == [SUNDAY]


def test_people_flag_and_unflag_days_on_the_audit_log(shop: weir.Project) -> None:
    shop.quality.flag(date(2025, 2, 3), "tills double-counted", user="ada")
    shop.quality.flag(date(2025, 2, 4), "a late file", kpi="units", user="ada")
    # a flag for every KPI: 1710 - 100 (Monday 3rd); units: 16 - 2 (3rd for all, 4th for units)
    assert month(shop, "net_sales", exclude=True) == 1610
    assert month(shop, "units", exclude=True) == 14
    listed = [(f.day, f.kpi, f.dataset, f.flagged_by, f.by_name) for f in shop.quality.flags()]
    assert listed == [
        (date(2025, 2, 3), None, "all", "user", "ada"),
        (date(2025, 2, 4), "units", "kpi.units", "user", "ada"),
    ]
    [gone] = shop.quality.unflag(date(2025, 2, 4), kpi="units", user="ada")
    assert gone.reason == "a late file"
    assert month(shop, "units", exclude=True) == 15
    with pytest.raises(NotFoundError, match="2025-02-04 is not flagged"):
        shop.quality.unflag(date(2025, 2, 4))
    with pytest.raises(NotFoundError, match="did you mean units"):
        shop.quality.flag(date(2025, 2, 4), "typo", kpi="unit")
    kinds = [r.entry.kind for r in shop.audit.records(limit=4)]
    assert kinds == ["flag.remove", "flag.remove", "flag.add", "flag.add"]
    assert shop.audit.records(limit=4)[1].entry.allowed  # the first removal succeeded


def test_a_check_does_not_replace_a_persons_flag(shop: weir.Project) -> None:
    shop.quality.flag(SATURDAY, "known: the tills were down", kpi="net_sales", user="ada")
    shop.quality.run(kpis=["net_sales"], since=FIRST)
    reasons = {(f.day, f.flagged_by): f.reason for f in shop.quality.flags()}
    assert reasons[(SATURDAY, "user")] == "known: the tills were down"
    assert (SATURDAY, "auto") not in reasons and (SUNDAY, "auto") in reasons


# -- freshness ----------------------------------------------------------------------------
def test_freshness_is_judged_on_event_time_and_on_arrival(shop: weir.Project) -> None:
    pos = shop.files.source("pos")
    assert pos.freshness is not None  # the example: warn after 30h, error after 54h
    contract = pos.freshness
    hour = 3600.0
    judged = {
        (event, arrival): freshness_check(pos, contract, Ages(event * hour, arrival * hour), 0.0)
        for event, arrival in [(1, 1), (31, 1), (1, 31), (55, 1), (31, 55), (29, 29)]
    }
    assert {k: c.state for k, c in judged.items()} == {
        (1, 1): "ok",
        (31, 1): "warn",  # events stopped though batches still arrive
        (1, 31): "warn",  # nothing has arrived for 31 hours
        (55, 1): "error",
        (31, 55): "error",
        (29, 29): "ok",
    }
    assert judged[(31, 1)].message == (
        "source pos: newest event 31h 0m ago, last batch 1h 0m ago"
        " (warn after 30h, error after 54h)"
    )
    # on the ingested project, at a moment of our choosing: the newest event is
    # 2025-02-16 12:00 (day 41), the batch finished when the fixture ran
    newest = MONDAY + 41 * DAY
    finished = max(b.finished_at or 0 for b in shop.ledger.batches("pos"))
    ages = shop.quality.ages(now=finished + 2 * hour)["pos"]
    assert ages.arrival == pytest.approx(2 * hour)
    assert ages.event == pytest.approx(finished + 2 * hour - newest)
    [check] = shop.quality.freshness(["pos"], now=newest + 40 * hour)  # the batch: in the future
    assert (check.state, check.expected_high) == ("warn", 30 * hour)
    # the service's own clock, injected: 55 hours after the newest event is an error
    shop.quality.clock = lambda: newest + 55 * hour
    [check] = shop.quality.freshness(["pos"])
    assert (check.state, check.checked_at) == ("error", newest + 55 * hour)


# -- schema drift -------------------------------------------------------------------------
def test_drift_is_read_from_quarantined_records(shop: weir.Project, project_root: Path) -> None:
    # the export renamed revenue and added a channel column
    header = "transaction_id,store_id,product_id,quantity,revenue_eur,discount_applied,timestamp,customer_id,card_number,channel"
    renamed = pos_csv(pos_line("R1") + ",web", pos_line("R2") + ",shop", header=header)
    land(project_root, "pos", "pos_renamed.csv", renamed)
    [batch] = shop.sources.ingest(["pos"])
    assert batch.counts.quarantined == 2
    [check] = [c for c in shop.quality.run(sources=["pos"]) if c.kind == "schema_drift"]
    assert check.state == "error"
    assert check.message.startswith(
        "source pos: 'revenue' looks renamed to 'revenue_eur'; 'channel' appeared (2 records held"
    )
    assert check.observed == 2


# -- health, the CLI and the API ----------------------------------------------------------------
def test_health_lists_sources_and_models(shop: weir.Project) -> None:
    shop.quality.run(sources=["pos"], since=FIRST)
    found = shop.quality.health()
    items = {(i.component, i.name): i for i in found.items}
    pos = items[("source", "pos")]
    # the newest POS event is from 2025, far past the example's 54 hours: an error
    assert pos.state == "error" and pos.facts["freshness"] == "error"
    assert pos.facts["volume"] == "ok" and pos.facts["drift"] == "ok"
    assert items[("model", "marts.sales")].state == "ok"
    assert found.state == "error"
    shop.quality.add_health_part(lambda now: [])  # where scheduled runs add their rows


def test_cli_round_trip(shop: weir.Project, project_root: Path) -> None:
    shop.close()
    added = run_cli(
        project_root,
        "flags",
        "add",
        "2025-02-03",
        "--reason",
        "double-counted",
        "--kpi",
        "net_sales",
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(run_cli(project_root, "flags", "list", "--format", "json").output)
    assert [(f["day"], f["kpi"], f["flagged_by"]) for f in listed] == [
        ("2025-02-03", "net_sales", "user")
    ]
    assert run_cli(project_root, "flags", "remove", "2025-02-03").exit_code == 0
    assert run_cli(project_root, "flags", "list").output.strip() == "no day is flagged"
    missing = run_cli(project_root, "flags", "remove", "2025-02-03")
    assert missing.exit_code == 1 and "is not flagged" in missing.output
    ran = run_cli(
        project_root,
        "quality",
        "run",
        "--kpi",
        "net_sales",
        "--since",
        "2025-01-06",
        "--format",
        "json",
        "--check",
    )
    assert ran.exit_code == 1  # a check is in error: with --check, a script sees it
    assert [c["day"] for c in json.loads(ran.output)] == ["2025-02-15", "2025-02-16"]
    health = run_cli(project_root, "health", "--format", "json")
    assert health.exit_code == 0 and json.loads(health.output)["state"] == "error"
    assert run_cli(project_root, "health", "--check").exit_code == 1


def run_cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--project", str(root), *args])


def test_api_round_trip(shop: weir.Project) -> None:
    tokens = shop.access.tokens()
    _, admin = tokens.create("ada", "admin")
    _, sales = tokens.create("sam", "sales")
    app = create_app(shop)

    def call(method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
                headers = {"Authorization": f"Bearer {token}"}
                return await client.request(method, url, headers=headers, **kwargs)

        return asyncio.run(send())

    assert call("GET", "/api/v1/health", sales).status_code == 403
    assert call("GET", "/api/v1/flags", "nope").status_code == 401
    health = call("GET", "/api/v1/health", admin).json()
    assert health["state"] == "error"
    assert {(i["component"], i["name"]) for i in health["items"]} >= {("source", "pos")}
    body = {"day": "2025-02-03", "reason": "double-counted", "kpi": "net_sales"}
    created = call("POST", "/api/v1/flags", admin, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["by"] == "ada" and created.json()["flagged_by"] == "user"
    assert call("POST", "/api/v1/flags", sales, json=body).status_code == 403
    listed = call("GET", "/api/v1/flags", admin).json()["flags"]
    assert [(f["day"], f["kpi"]) for f in listed] == [("2025-02-03", "net_sales")]
    assert month(shop, "net_sales", exclude=True) == 1610
    removed = call("DELETE", "/api/v1/flags/2025-02-03?kpi=net_sales", admin)
    assert removed.status_code == 200 and len(removed.json()["flags"]) == 1
    again = call("DELETE", "/api/v1/flags/2025-02-03", admin)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert call("GET", "/api/v1/flags?typo=1", admin).status_code == 422
    metrics = call("GET", "/metrics", admin).text
    assert 'weir_source_freshness_seconds{basis="arrival",source="pos"}' in metrics
