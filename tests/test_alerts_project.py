"""Alerts on the golden retailer: KPI thresholds and stockouts computed from its marts,
the CLI and the API round trips, and the alert tables on PostgreSQL.

The golden data (tests/golden/README.md) is worked by hand:

- feedback_score by day: 01-16 c24 rated 1 -> 0 of 1 = 0 % ; 01-17 c25 rated 4 -> 100 % ;
  01-18 only an unrated Loyalty interaction -> no value. By ISO week: W2 (01-13) 3 of 4 = 75 %.
- stock at the end of 01-08: A (101, wh1) 15, B (101, wh2) 12, C (102, wh1) 0,
  D (103, wh2) 4 with threshold 4 (low: at the threshold), E (104, wh1) 15.
- at the end of the data: A 24 with threshold 25 (low), B 0, C 0, D 3 with threshold 4 (low),
  E 2 with no threshold (never low).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from conftest import NewDatabase
from test_alerts import failed, with_alerts

import weir
from weir.cli.main import cli
from weir.serve.app import create_app

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"

RULES = """
    alerts:
      channels:
        log: {kind: log}
      rules:
        - {name: feedback_score_low, kind: kpi_threshold, kpi: feedback_score, below: 80,
           grain: day, channels: [log], renotify: 24h}
        - {name: feedback_weekly, kind: kpi_threshold, kpi: feedback_score, below: 80,
           grain: week, channels: [log]}
        - {name: stockouts, kind: stockout, channels: [log], renotify: 24h}
        - {name: stockouts_wh2, kind: stockout, warehouses: [2], channels: [log], renotify: null}
"""


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example retailer on the golden landing files, models built (once for the module)."""
    root = weir.init_project(tmp_path_factory.mktemp("alerts") / "shop")
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok
    return root


@pytest.fixture
def shop(golden: Path) -> Path:
    """The built golden project with this module's rules and no alert state yet."""
    with weir.Project(golden) as project, project.store.begin() as db:
        for table in ("attempts", "deliveries", "incidents", "silences"):
            db.execute(sa.text(f"DELETE FROM weir_alert_{table}"))
    return with_alerts(golden, RULES)


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


def test_kpi_threshold_reads_the_latest_complete_period(shop: Path) -> None:
    with weir.Project(shop) as project:
        alerts = project.alerts
        # 01-17 09:00: the last complete day is 01-16, 0 % < 80; W2 is not over yet, W1 is 60 %
        first = alerts.evaluate(at(17))
        daily = next(i for i in first.opened if i.rule == "feedback_score_low")
        assert daily.subject == "feedback_score"
        assert (daily.detail["period"], daily.detail["value"]) == ("2025-01-16", 0.0)
        assert daily.message == "feedback_score for the day of 2025-01-16 is 0: under 80"
        weekly = next(i for i in first.opened if i.rule == "feedback_weekly")
        assert (weekly.detail["period"], weekly.detail["value"]) == ("2025-01-06", 60.0)
        # 01-18: 01-17 is 100 % -> the daily incident is resolved
        second = alerts.evaluate(at(18))
        assert [i.rule for i in second.resolved] == ["feedback_score_low"]
        assert second.resolved[0].message.endswith("is 100: within bounds (below 80)")
        # 01-19: 01-18 has no value, so 01-17 (100 %) is still the latest: nothing changes
        third = alerts.evaluate(at(19))
        assert (third.opened, third.resolved) == ((), ())
        # 01-20 (Monday): W2 is complete at 75 % < 80, the same weekly incident goes on
        fourth = alerts.evaluate(at(20))
        [open_weekly] = alerts.incidents("feedback_weekly", state="firing")
        assert (open_weekly.detail["period"], open_weekly.detail["value"]) == ("2025-01-13", 75.0)
        assert fourth.opened == () and open_weekly.incident_id == weekly.incident_id


def test_stockouts_fire_per_warehouse_and_product(shop: Path) -> None:
    with weir.Project(shop) as project:
        alerts = project.alerts
        first = alerts.evaluate(at(8, 12))
        opened = sorted((i.rule, i.subject) for i in first.opened if i.kind == "stockout")
        assert opened == [
            ("stockouts", "warehouse 1 / product 102"),  # C at 0
            ("stockouts", "warehouse 2 / product 103"),  # D at 4, its threshold
            ("stockouts_wh2", "warehouse 2 / product 103"),
        ]
        c = next(i for i in first.opened if i.subject == "warehouse 1 / product 102")
        assert c.message == "warehouse 1 / product 102: out of stock on 2025-01-08"
        d = next(i for i in first.opened if i.rule == "stockouts" and "103" in i.subject)
        assert d.detail["stock_level"] == 4 and d.detail["restock_threshold"] == 4
        # 12 days on: A (24 <= 25) and B (0) are new, C and D still fire (sent again: 24 h passed)
        later = alerts.evaluate(at(20))
        new = sorted((i.rule, i.subject) for i in later.opened if i.kind == "stockout")
        assert new == [
            ("stockouts", "warehouse 1 / product 101"),
            ("stockouts", "warehouse 2 / product 101"),
            ("stockouts_wh2", "warehouse 2 / product 101"),
        ]
        again = sorted(i.subject for i in later.renotified if i.rule == "stockouts")
        assert again == ["warehouse 1 / product 102", "warehouse 2 / product 103"]
        assert alerts.firing_counts()["stockouts"] == 4  # A B C D; E (2, no threshold) is not
        assert alerts.firing_counts()["stockouts_wh2"] == 2  # B and D
        sent = alerts.deliver_pending(at(20))
        assert all(o.ok for o in sent)


def cli_run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--project", str(root), *args], catch_exceptions=False)


def test_cli_round_trip(shop: Path) -> None:
    evaluated = cli_run(shop, "alerts", "evaluate", "--format", "json")
    assert evaluated.exit_code == 0, evaluated.output
    [row] = json.loads(evaluated.stdout)
    # now is today: stock on the mart's latest day -> A B C D in stockouts, B D in wh2; the
    # feedback score has no value in the weeks before today, so its rules report nothing
    assert row["opened"] == 6 and row["sent"] == row["queued"] == 6 and row["failed"] == 0
    listed = json.loads(cli_run(shop, "alerts", "list", "--format", "json").stdout)
    states = {r["rule"]: (r["state"], r["firing"]) for r in listed}
    assert states["stockouts"] == ("firing", 4) and states["stockouts_wh2"] == ("firing", 2)
    assert states["feedback_weekly"] == states["feedback_score_low"] == ("ok", 0)
    silenced = cli_run(
        shop, "alerts", "silence", "stockouts", "--until", "2099-12-24T00:00",
        "--subject", "warehouse 2 / product 101",
    )  # fmt: skip
    assert silenced.exit_code == 0
    assert "until 2099-12-24T00:00+00:00" in silenced.stdout
    listed = json.loads(cli_run(shop, "alerts", "list", "--format", "json").stdout)
    stock = next(r for r in listed if r["rule"] == "stockouts")
    assert stock["silenced_subjects"] == {"warehouse 2 / product 101": "2099-12-24T00:00:00+00:00"}
    history = cli_run(shop, "alerts", "history", "--rule", "stockouts_wh2", "--format", "csv")
    lines = history.stdout.strip().splitlines()
    assert lines[0].startswith("created_at,rule,subject,event,channel,status,attempts")
    assert len(lines) == 3 and all(",sent,1," in line for line in lines[1:])
    tested = cli_run(shop, "alerts", "test", "stockouts", "--format", "json")
    assert tested.exit_code == 0 and json.loads(tested.stdout)[0]["outcome"] == "sent"
    wrong = cli_run(shop, "alerts", "history", "--rule", "stockout")
    assert wrong.exit_code == 1 and "did you mean 'stockouts'" in wrong.stderr


def call(app: Any, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.request(method, url, headers=headers, **kwargs)

    return asyncio.run(send())


def test_api_round_trip_and_the_firing_gauge(shop: Path) -> None:
    with weir.Project(shop) as project:
        project.alerts.evaluate(at(20))
        admin = project.access.tokens().create("ada", "admin")[1]
        support = project.access.tokens().create("sue", "support")[1]
        app = create_app(project)
        listed = call(app, "GET", "/api/v1/alerts", support)
        assert listed.status_code == 200
        rules = {r["rule"]: r for r in listed.json()["rules"]}
        assert rules["stockouts"]["firing"] == 4 and rules["stockouts"]["state"] == "firing"
        assert len([i for i in listed.json()["incidents"] if i["rule"] == "stockouts"]) == 4
        body = {"until": "2099-01-01T00:00:00Z"}
        refused = call(app, "POST", "/api/v1/alerts/stockouts/silence", support, json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        done = call(app, "POST", "/api/v1/alerts/stockouts/silence", admin, json=body)
        assert done.json() == {
            "rule": "stockouts",
            "subject": None,
            "until": "2099-01-01T00:00:00+00:00",
        }
        unknown = call(app, "POST", "/api/v1/alerts/stockout/silence", admin, json=body)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["fix"] == "did you mean 'stockouts'?"
        assert call(app, "GET", "/api/v1/alerts", "nope").status_code == 401
        metrics = call(app, "GET", "/metrics", admin).text
        assert 'weir_alerts_firing{rule="stockouts"} 4.0' in metrics
        assert 'weir_alerts_firing{rule="feedback_score_low"} 0.0' in metrics
        assert [s.name for s in app.state.services if s.name == "alerts"] == ["alerts"]


def test_incidents_and_retries_on_postgresql(project_root: Path, new_database: NewDatabase) -> None:
    uri = new_database()
    root = with_alerts(
        project_root,
        """
        alerts:
          channels: {log: {kind: log}, gone: {kind: webhook, url: "http://127.0.0.1:9/x"}}
          rules: [{name: runs, kind: run_failed, channels: [log, gone], renotify: 2h}]
        """,
    )
    config = root / "weir.yml"
    config.write_text(
        config.read_text().replace("state_dir: .weir", f"state_dir: .weir\ncatalog_uri: {uri}")
    )
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    with weir.Project(root) as project:
        assert project.store.engine.dialect.name == "postgresql"
        assert project.alerts.evaluate(t0, [failed()]).queued == 2
        outcomes = {o.channel: o.ok for o in project.alerts.deliver_pending(t0)}
        assert outcomes == {"log": True, "gone": False}
        assert project.alerts.evaluate(t0 + timedelta(hours=2), [failed()]).queued == 2
        resolved = project.alerts.evaluate(t0 + timedelta(hours=3), [failed(firing=False)])
        assert resolved.queued == 2
    with weir.Project(root) as reopened:
        # gone's first notice waits 30 s, then 60 s ...; its others are due at once
        due = reopened.alerts.deliver_pending(t0 + timedelta(hours=3))
        assert sorted((o.channel, o.event, o.ok) for o in due) == [
            ("gone", "firing", False),
            ("gone", "renotify", False),
            ("gone", "resolved", False),
            ("log", "renotify", True),
            ("log", "resolved", True),
        ]
        [incident] = reopened.alerts.incidents("runs")
        assert (incident.state, incident.notifications) == ("resolved", 3)


@pytest.fixture(autouse=True)
def _quiet_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level("ERROR", logger="weir.alerts")
    yield
