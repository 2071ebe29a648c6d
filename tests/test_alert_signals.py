"""Alerts from the rest of weir: flagged days, quality checks and failing streams."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from conftest import web_event

import weir


def _open(project: weir.Project, rule: str) -> dict[str, Any]:
    return {i.subject: i for i in project.alerts.incidents(rule=rule, state="firing")}


def test_a_flagged_day_is_an_incident_until_its_flag_goes(project: weir.Project) -> None:
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=3)
    reason = f"kpi net_sales on {day}: 68,098 vs expected 91,200 to 104,900"
    project.kpis.flags.flag(
        day, "kpi.net_sales", reason, "auto", "quality:kpi_anomaly", "net_sales", now.timestamp()
    )
    project.kpis.flags.flag(
        day, "staging.pos", "pos on that day: 0 files vs 3 to 3", "auto", "quality:volume", None
    )
    old = date(2020, 1, 1)  # flagged long ago: not news
    project.kpis.flags.flag(old, "kpi.sessions", "old", "auto", "quality:kpi_anomaly", "sessions")
    project.kpis.flags.flag(day, "kpi.units", "a person's note", "user", "ada", "units")
    project.alerts.evaluate(now)
    anomaly = _open(project, "kpi_anomalies")
    assert list(anomaly) == [f"net_sales on {day}"]
    assert anomaly[f"net_sales on {day}"].message == reason
    assert list(_open(project, "source_volume")) == [f"pos on {day}"]

    project.kpis.flags.remove(day, "kpi.net_sales")  # judged normal again, or a person unflagged it
    evaluation = project.alerts.evaluate(now + timedelta(minutes=1))
    assert [i.subject for i in evaluation.resolved] == [f"net_sales on {day}"]
    assert _open(project, "kpi_anomalies") == {}
    assert list(_open(project, "source_volume")) == [f"pos on {day}"]


def test_a_stream_whose_flushes_fail_fires_until_they_go_through(
    project: weir.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = project.streams.collector()
    collector.open_logs()
    event = json.dumps(web_event("w1"))
    receipt = asyncio.run(collector.submit("web_traffic", [event]))
    assert receipt.accepted == 1
    commit = project.lake.commit

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("No space left on device")

    monkeypatch.setattr(project.lake, "commit", failing)
    assert collector.flush() == []
    project.alerts.evaluate()
    [incident] = _open(project, "stream_flush_failing").values()
    assert incident.subject == "web_traffic"
    assert "No space left on device" in incident.message and "1 events wait" in incident.message

    monkeypatch.setattr(project.lake, "commit", commit)
    [report] = collector.flush(now=datetime.now(UTC).timestamp() + 3600)  # past its backoff
    assert report.source == "web_traffic"
    evaluation = project.alerts.evaluate()
    assert [i.subject for i in evaluation.resolved] == ["web_traffic"]
    collector.close()


def test_a_failed_run_is_an_alert_as_soon_as_it_ends_and_resolves_when_one_succeeds(
    project: weir.Project,
) -> None:
    ingest = project.orchestrate.handlers["ingest"]

    def broken(_step: Any) -> Any:
        raise OSError("the landing share is not mounted")

    project.orchestrate.handlers["ingest"] = broken
    project.runs.trigger("pos_daily")
    failed = project.orchestrate.worker().run_once()
    assert failed is not None and failed.status == "failed"
    # the finished run's hook evaluated the alerts: no round of the server was needed
    [incident] = _open(project, "run_failures").values()
    assert incident.subject == "pos_daily"
    assert f"run {failed.run_id}" in incident.message
    assert "the landing share is not mounted" in incident.message
    health = {i.name: i for i in project.quality.health().items if i.component == "schedule"}
    assert health["pos_daily"].state == "error" and health["nightly"].state == "ok"

    project.orchestrate.handlers["ingest"] = ingest
    project.runs.trigger("pos_daily")
    done = project.orchestrate.worker().run_once()
    assert done is not None and done.status == "succeeded"
    assert _open(project, "run_failures") == {}
    health = {i.name: i for i in project.quality.health().items if i.component == "schedule"}
    assert health["pos_daily"].state == "ok"
