"""Conditions from the rest of weir: quality checks, flagged days and failing streams.

Each function here returns a condition provider (``now -> [Condition]``) that
``Project`` registers with ``Alerts.add_provider``; ``Alerts.evaluate`` asks
every provider at each evaluation.

- ``freshness`` and ``schema_drift``: the latest result of each quality check
  of that kind, firing while it is not ok, resolved once it is; so are the
  days of a burst of duplicates (``volume``, ``web_traffic duplicates on …``).
- ``kpi_anomaly`` and ``volume``: each day a quality check flagged (within the
  quality settings' look-back) is an incident of its own, ``net_sales on
  2026-11-02``; it resolves when the flag goes (the day judged normal again, or
  a person removed it).
- ``stream_failed``: a source whose collector flushes fail, since when and why.
- ``run_failed``: the newest finished run of each schedule (and of runs started
  by hand), firing when it failed or was abandoned, resolved when one succeeds.

``connect`` also adds the schedules to ``weir health`` and subscribes to finished runs: after each, the sources the run
ingested are checked (freshness, volume, drift) and the alerts evaluated, so a
failure or a late source is heard within the run, not at the next round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta

from weir.alerts.records import Condition, ConditionProvider, from_epoch
from weir.alerts.service import Alerts
from weir.alerts.store import AlertStore
from weir.orchestrate import Orchestration
from weir.orchestrate.records import Run
from weir.quality import CheckState, Quality
from weir.quality.health import HealthItem
from weir.streams.service import Streams

_SEVERITY = {"ok": "info", "warn": "warning", "error": "error"}


def quality_checks(quality: Quality) -> ConditionProvider:
    """Freshness and schema drift, as their latest checks judged them."""

    def conditions(_now: datetime) -> list[Condition]:
        found = []
        for check in quality.checks():
            source = check.subject.split(":", 1)[0]
            if check.kind in ("freshness", "schema_drift"):
                subject = check.subject
            elif check.subject.endswith(":duplicates") and check.day is not None:
                # a burst of re-sent records flags no KPI (they are removed), but it is news
                subject = f"{source} duplicates on {check.day.isoformat()}"
            else:
                continue
            found.append(
                Condition(
                    check.kind,
                    subject,
                    check.state != "ok",
                    check.message,
                    _SEVERITY[check.state],
                    from_epoch(check.checked_at),
                    {"source": source},
                )
            )
        return found

    return conditions


def flagged_days(
    quality: Quality, store: AlertStore, rules: Mapping[str, str]
) -> ConditionProvider:
    """Every day a check flagged lately, one incident each; a flag gone resolves its incident.

    ``rules``: the name of each rule of kind ``kpi_anomaly`` or ``volume``, to
    find the incidents still open whose day is no longer flagged.
    """

    def conditions(now: datetime) -> list[Condition]:
        since = now.astimezone(UTC).date() - timedelta(days=quality.settings.lookback_days)
        found: dict[tuple[str, str], Condition] = {}
        for flag in quality.flags():
            if flag.flagged_by != "auto" or flag.day < since:
                continue
            layer, _, name = flag.dataset.partition(".")
            kind = "kpi_anomaly" if layer == "kpi" else "volume"
            key = "kpi" if kind == "kpi_anomaly" else "source"
            subject = _subject(name, flag.day)
            found[(kind, subject)] = Condition(
                kind, subject, True, flag.reason, "warning", None, {key: name}
            )
        for rule, kind in rules.items():
            for subject, incident in store.open_incidents(rule).items():
                if (kind, subject) not in found:
                    found[(kind, subject)] = Condition(
                        kind,
                        subject,
                        False,
                        f"{subject}: no longer flagged",
                        incident.severity,
                        None,
                        dict(incident.detail),
                    )
        return list(found.values())

    return conditions


def failing_streams(streams: Streams) -> ConditionProvider:
    """A source whose collector flushes fail: its events wait in the log, retried with backoff."""

    def conditions(_now: datetime) -> list[Condition]:
        found: dict[str, Condition] = {}
        for status in streams.status():
            if status.kind != "collector":
                continue
            failing = status.failing_since is not None
            since = from_epoch(status.failing_since)
            message = (
                f"the flushes of {status.source} fail since {since:%Y-%m-%d %H:%M} UTC "
                f"({status.backlog or 0} events wait in its log): {status.last_error}"
                if failing and since is not None
                else f"the flushes of {status.source} go through"
            )
            found[status.source] = Condition(
                "stream_failed",
                status.source,
                failing,
                message,
                "error",
                None,
                {"source": status.source},
            )
        return list(found.values())

    return conditions


def failed_runs(orchestration: Orchestration, days: int = 7) -> ConditionProvider:
    """The newest finished run of each schedule in the last ``days``: failed is firing."""

    def conditions(now: datetime) -> list[Condition]:
        newest: dict[str, Run] = {}
        for run in orchestration.runs.list(since=now - timedelta(days=days), limit=1000):
            subject = run.schedule or "runs started by hand"
            if run.finished and subject not in newest:  # newest first
                newest[subject] = run
        found = []
        for subject, run in newest.items():
            failing = run.status in ("failed", "abandoned")
            how = f"run {run.run_id} ({run.trigger}, attempt {run.attempt}) {run.status}"
            message = f"{subject}: {how}" + (f": {run.error}" if failing and run.error else "")
            found.append(
                Condition(
                    "run_failed",
                    subject,
                    failing,
                    message,
                    "error",
                    None,
                    {"schedule": run.schedule, "run_id": run.run_id},
                )
            )
        return found

    return conditions


def schedule_health(orchestration: Orchestration) -> Callable[[float], list[HealthItem]]:
    """``weir health``'s rows for the schedules: the newest run of each, paused, overdue."""

    def items(now: float) -> list[HealthItem]:
        newest: dict[str, Run] = {}
        for run in orchestration.runs.list(limit=1000):
            if run.schedule is not None and run.finished and run.schedule not in newest:
                newest[run.schedule] = run
        found = []
        for schedule in orchestration.schedules.list():
            last_run = newest.get(schedule.name)
            overdue = schedule.next_fire is not None and schedule.next_fire.timestamp() < now - 3600
            state: CheckState
            if last_run is not None and last_run.status in ("failed", "abandoned"):
                state = "error"
                detail = f"run {last_run.run_id} {last_run.status}: {last_run.error or ''}".strip()
            elif schedule.paused:
                state, detail = "warn", f"paused by {schedule.updated_by}"
            elif overdue:
                state, detail = "warn", "a fire is over an hour late: is a worker running?"
            else:
                last = f"run {last_run.run_id} {last_run.status}" if last_run else "no run yet"
                state, detail = "ok", f"{last}; next {_when(schedule.next_fire)}"
            facts = {
                "cron": schedule.cron,
                "after": list(schedule.after),
                "paused": schedule.paused,
            }
            found.append(HealthItem("schedule", schedule.name, state, detail, facts))
        return found

    return items


def _when(moment: datetime | None) -> str:
    return "on a new batch" if moment is None else f"{moment:%Y-%m-%d %H:%M %Z}"


def _subject(name: str, day: date) -> str:
    return f"{name} on {day.isoformat()}"


def connect(
    alerts: Alerts, quality: Quality, streams: Streams, orchestration: Orchestration
) -> None:
    """Register every provider of this module with ``alerts``, and hear of finished runs."""
    anomalies = {r.name: r.kind for r in alerts.config.rules if r.kind in ("kpi_anomaly", "volume")}
    alerts.add_provider(quality_checks(quality))
    alerts.add_provider(flagged_days(quality, alerts.store, anomalies))
    alerts.add_provider(failing_streams(streams))
    alerts.add_provider(failed_runs(orchestration))
    quality.add_health_part(schedule_health(orchestration))

    def after(run: Run) -> None:
        ingested = [
            s for step in run.plan if step.kind == "ingest" for s in step.args.get("sources") or []
        ]
        if ingested:
            quality.run(sources=ingested)
        if alerts.config.rules:
            alerts.run_once()

    orchestration.hooks.append(after)
