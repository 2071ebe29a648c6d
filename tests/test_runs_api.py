"""The runs and schedules API and CLI round trips, and who may use them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from orchestrate_helpers import land_stores, with_schedules

import weir
from weir.cli.main import cli
from weir.serve.app import create_app

SCHEDULES = (
    "schedules:\n"
    "  - {name: stores_daily, sources: [stores], cron: '0 6 * * *', retries: {count: 1, backoff: 30s}}\n"
)


@pytest.fixture
def root(project_root: Path) -> Path:
    with_schedules(project_root, SCHEDULES)
    config = project_root / "weir.yml"
    text = config.read_text(encoding="utf-8")
    text = text.replace(
        "roles:\n", "roles:\n  ops:\n    description: On call\n    operator: true\n", 1
    )
    text = text.replace("users:\n", "users:\n  olga: {description: On call, roles: [ops]}\n", 1)
    config.write_text(text, encoding="utf-8")
    land_stores(project_root)
    return project_root


def call(
    project: weir.Project, method: str, path: str, token: str | None, body: Any = None
) -> httpx.Response:
    async def go() -> httpx.Response:
        app = create_app(project)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            return await client.request(method, path, headers=headers, json=body)

    return asyncio.run(go())


def test_api_round_trip_for_an_operator(root: Path) -> None:
    with weir.Project(root) as project:
        _, ops = project.access.tokens().create("olga", "ops", None, None)
        _, admin = project.access.tokens().create("ada", "admin", None, None)
        _, sales = project.access.tokens().create("sam", "sales", None, None)

        made = call(project, "POST", "/api/v1/runs", ops, {"schedule": "stores_daily"})
        assert made.status_code == 201, made.text
        run = made.json()
        assert (run["trigger"], run["triggered_by"], run["status"]) == ("manual", "olga", "queued")
        assert [s["kind"] for s in run["steps"]] == ["ingest"]

        done = project.orchestrate.worker().run_once()
        assert done is not None and done.status == "succeeded"
        shown = call(project, "GET", f"/api/v1/runs/{run['run_id']}", admin).json()
        assert shown["status"] == "succeeded" and shown["steps"][0]["rows"] == 1
        logs = call(project, "GET", f"/api/v1/runs/{run['run_id']}/logs", ops).json()
        assert logs["lines"][0]["message"] == "queued: manual by olga"
        listed = call(project, "GET", "/api/v1/runs?status=succeeded", ops).json()
        assert [r["run_id"] for r in listed["runs"]] == [run["run_id"]]

        again = call(project, "POST", f"/api/v1/runs/{run['run_id']}/rerun", ops, {})
        assert again.status_code == 201 and again.json()["parent_run"] == run["run_id"]
        cancelled = call(project, "POST", f"/api/v1/runs/{again.json()['run_id']}/cancel", ops)
        assert cancelled.json()["status"] == "cancelled"

        patched = call(
            project, "PATCH", "/api/v1/schedules/stores_daily", ops, {"cron": "0 7 * * *"}
        ).json()
        assert (patched["cron"], patched["override"]) == ("0 6 * * *", "0 7 * * *")
        paused = call(project, "PATCH", "/api/v1/schedules/stores_daily", ops, {"paused": True})
        assert paused.json()["paused"] is True and paused.json()["next_fire"] is None
        listed_schedules = call(project, "GET", "/api/v1/schedules", ops).json()
        assert [s["name"] for s in listed_schedules["schedules"]] == ["stores_daily"]
        reset = call(project, "PATCH", "/api/v1/schedules/stores_daily", ops, {"reset": True})
        assert reset.json()["override"] is None

        denied = call(project, "GET", "/api/v1/runs", sales)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"
        assert "operator: true" in denied.json()["error"]["fix"]
        assert call(project, "GET", "/api/v1/runs", None).status_code == 401
        missing = call(project, "GET", "/api/v1/runs/999", ops)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        unknown = call(project, "GET", "/api/v1/schedules/nighly", ops).json()["error"]
        assert (unknown["status"], unknown["kind"], unknown["name"]) == (404, "schedule", "nighly")
        bad_cron = call(project, "PATCH", "/api/v1/schedules/stores_daily", ops, {"cron": "x"})
        assert bad_cron.status_code == 400

        metrics = call(project, "GET", "/metrics", None).text
        assert 'weir_runs{status="succeeded"} 1.0' in metrics
        assert 'weir_runs{status="cancelled"} 1.0' in metrics


def test_cli_round_trip(root: Path) -> None:
    runner = CliRunner()

    def weir_cli(*args: str) -> str:
        result = runner.invoke(cli, ["--project", str(root), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    made = json.loads(weir_cli("runs", "trigger", "--source", "stores", "--format", "json"))
    run_id = made[0]["run_id"]
    assert made[0]["status"] == "queued"
    weir_cli("worker", "--once")
    shown = json.loads(weir_cli("runs", "show", str(run_id), "--format", "json"))[0]
    assert shown["status"] == "succeeded" and shown["steps"][0]["rows"] == 1
    assert "run succeeded" in weir_cli("runs", "logs", str(run_id))
    listed = weir_cli("runs", "list", "--status", "succeeded", "--since", "24h", "--format", "csv")
    assert listed.splitlines()[0].startswith("run,schedule,trigger")
    assert len(listed.splitlines()) == 2
    weir_cli("schedule", "set", "stores_daily", "30 5 * * *")
    states = json.loads(weir_cli("schedule", "list", "--format", "json"))
    assert (states[0]["cron"], states[0]["override"]) == ("0 6 * * *", "30 5 * * *")
    weir_cli("schedule", "pause", "stores_daily")
    assert json.loads(weir_cli("schedule", "list", "--format", "json"))[0]["paused"] is True
    weir_cli("schedule", "resume", "stores_daily")
    weir_cli("schedule", "reset", "stores_daily")
    assert json.loads(weir_cli("schedule", "list", "--format", "json"))[0]["override"] is None
    backfilled = json.loads(
        weir_cli(
            "backfill",
            "--select",
            "warehouse.dim_store",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-03",
            "--format",
            "json",
        )
    )
    assert backfilled[0]["trigger"] == "backfill"
    bad = runner.invoke(cli, ["--project", str(root), "runs", "trigger", "--source", "storez"])
    assert bad.exit_code == 1 and "did you mean 'stores'?" in bad.output


def test_serve_runs_the_orchestrator_as_a_service(root: Path) -> None:
    with weir.Project(root) as project:
        app = create_app(project)
        assert [s.name for s in app.state.services if s.name == "orchestrate"] == ["orchestrate"]
        paths = set(app.openapi()["paths"])
        assert {"/api/v1/runs", "/api/v1/runs/{run_id}/rerun", "/api/v1/schedules/{name}"} <= paths
