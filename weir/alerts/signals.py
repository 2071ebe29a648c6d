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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from weir.alerts.records import Condition, ConditionProvider, from_epoch
from weir.alerts.service import Alerts
from weir.alerts.store import AlertStore
from weir.quality import Quality
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


def _subject(name: str, day: date) -> str:
    return f"{name} on {day.isoformat()}"


def connect(alerts: Alerts, quality: Quality, streams: Streams) -> None:
    """Register every provider of this module with ``alerts``."""
    anomalies = {r.name: r.kind for r in alerts.config.rules if r.kind in ("kpi_anomaly", "volume")}
    alerts.add_provider(quality_checks(quality))
    alerts.add_provider(flagged_days(quality, alerts.store, anomalies))
    alerts.add_provider(failing_streams(streams))
