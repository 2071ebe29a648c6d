"""The alerts of an opened project: rules, incidents, deliveries, silences (``project.alerts``).

``evaluate(now)`` gathers conditions (those given, those of the registered
providers, and those alerts computes itself), matches them to the rules and
moves incidents: a firing condition with no open incident opens one and
queues a ``firing`` notice to each of the rule's channels; one still firing
is sent again every ``renotify``; a condition no longer firing resolves the
incident and queues a ``resolved`` notice. A silenced (rule, subject) keeps
its incident's state but queues nothing. ``deliver_pending(now)`` sends what
is due; a failure keeps the delivery pending with its next attempt after an
exponential backoff, so a restart resumes from the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from weir.alerts.channels import Channels, DeliveryError
from weir.alerts.checks import audit_chain, kpi_threshold, pii_found, stockouts
from weir.alerts.records import (
    Clock,
    Condition,
    ConditionProvider,
    Delivery,
    Evaluation,
    Event,
    Incident,
    Notice,
    Outcome,
    State,
    Status,
    as_utc,
    iso,
    utc_now,
)
from weir.alerts.store import AlertStore, new_id
from weir.errors import NotFoundError, ProjectError, WeirError
from weir.lake import Lake
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metrics.service import Kpis
from weir.project import ProjectFiles
from weir.project.alerts import AlertRuleConfig, AlertsConfig, rule_line
from weir.project.durations import parse_duration
from weir.project.loader import PROJECT_FILE

logger = logging.getLogger("weir.alerts")
COMPUTED = ("kpi_threshold", "stockout", "audit_failed", "pii_found")
# how long a delivery being sent is held by its sender (another process leaves it alone)
CLAIM = timedelta(minutes=5)
# the key of a condition's detail a rule's filter also matches, by rule kind
FILTER_KEYS = {
    "run_failed": "schedule",
    "freshness": "source",
    "volume": "source",
    "schema_drift": "source",
    "kpi_anomaly": "kpi",
    "stockout": "warehouse_id",
    "stream_failed": "source",
}


class Alerts:
    """The project's alert rules and their incidents; the one place that sends alerts."""

    def __init__(
        self,
        files: ProjectFiles,
        store: MetadataStore,
        lake: Lake,
        kpis: Kpis,
        audit: AuditLog,
        clock: Clock = utc_now,
    ) -> None:
        self.files = files
        self.config: AlertsConfig = files.config.alerts
        self.store = AlertStore(store)
        self.lake = lake
        self.kpis = kpis
        self.audit = audit
        self.clock = clock
        self.channels = Channels(self.config.channels, files.root, files.state_dir)
        self.providers: list[ConditionProvider] = []
        self._lock = threading.Lock()  # one evaluation or delivery round at a time
        self._checked = False

    # -- reading -----------------------------------------------------------------------
    def check(self) -> None:
        """Every KPI a rule names exists: a ProjectError naming weir.yml's line otherwise.

        Run once, when the alerts are first used (every ``weir alerts`` command,
        ``weir serve`` as it starts), so opening a project for other work never
        reads the KPI files.
        """
        if not self._checked:
            self._check_kpis()
            self._checked = True

    def rules(self) -> list[AlertRuleConfig]:
        """The rules of ``weir.yml``, in the order written."""
        self.check()
        return list(self.config.rules)

    def rule(self, name: str) -> AlertRuleConfig:
        self.check()
        found = self.config.rule(name)
        if found is None:
            known = [r.name for r in self.config.rules]
            fix = f"rules in weir.yml: {', '.join(known) or 'none (add some under alerts.rules)'}"
            raise NotFoundError.among("alert rule", name, known, fix, quoted=True)
        return found

    def incidents(
        self, rule: str | None = None, state: State | None = None, limit: int = 100
    ) -> list[Incident]:
        """Incidents newest first, of one rule and in one state if asked."""
        if rule is not None:
            self.rule(rule)
        return self.store.incidents(rule, state, limit)

    def history(self, rule: str | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries newest first, each with every attempt at it."""
        if rule is not None:
            self.rule(rule)
        return self.store.deliveries(rule, limit)

    def status(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Each rule with its firing incidents and silences: what ``weir alerts list`` shows."""
        self.check()
        now = as_utc(now or self.clock())
        silences = self.store.silences(now)
        rows = []
        for rule in self.config.rules:
            firing = self.store.open_incidents(rule.name)
            quiet = {s: u for (r, s), u in silences.items() if r == rule.name}
            rows.append(
                {
                    "rule": rule.name,
                    "kind": rule.kind,
                    "severity": rule.severity,
                    "channels": list(rule.channels),
                    "renotify": rule.renotify,
                    "state": "firing" if firing else "ok",
                    "firing": len(firing),
                    "subjects": sorted(firing),
                    "silenced_until": iso(quiet[""]) if "" in quiet else None,
                    "silenced_subjects": {s: iso(u) for s, u in sorted(quiet.items()) if s},
                }
            )
        return rows

    def firing_counts(self) -> dict[str, int]:
        """Firing incidents by rule (every rule, zero included)."""
        counts = self.store.firing_counts()
        return {rule.name: counts.get(rule.name, 0) for rule in self.config.rules}

    # -- acting ------------------------------------------------------------------------
    def add_provider(self, provider: ConditionProvider) -> None:
        """Register a source of conditions (``now -> list[Condition]``) that ``evaluate`` asks."""
        self.providers.append(provider)

    def silence(
        self, rule: str, until: datetime, subject: str | None = None, now: datetime | None = None
    ) -> datetime:
        """Send nothing for ``rule`` (or one of its subjects) until ``until``; returns it in UTC."""
        self.rule(rule)
        now = as_utc(now or self.clock())
        try:
            until = as_utc(until)
        except OverflowError:  # a zone that moves it outside the years 1 to 9999
            raise WeirError(
                f"{until.isoformat()} is out of range", "give a time such as 2026-12-24T00:00Z"
            ) from None
        if until <= now:
            raise WeirError(
                f"{until.isoformat(timespec='minutes')} is not in the future",
                "give a later time, e.g. --until 2026-12-24T00:00",
            )
        self.store.silence(rule, subject, until, now)
        return until

    def evaluate(
        self, now: datetime | None = None, conditions: Iterable[Condition] = ()
    ) -> Evaluation:
        """Match conditions to rules, open and resolve incidents, queue their notices."""
        self.check()
        now = as_utc(now or self.clock())
        with self._lock:
            gathered = [*conditions]
            for provider in self.providers:
                name = getattr(provider, "__name__", "a condition provider")
                gathered.extend(_checked(name, partial(provider, now)))
            gathered.extend(self._computed(now))
            silences = self.store.silences(now)
            opened: list[Incident] = []
            again: list[Incident] = []
            resolved: list[Incident] = []
            queued = firing = 0
            for rule in self.config.rules:
                wanted = rule.filter()
                matched = {
                    c.subject: c
                    for c in gathered
                    if c.kind == rule.kind and _matches(rule, c, wanted)
                }
                open_now = self.store.open_incidents(rule.name)
                for subject, condition in matched.items():
                    quiet = (rule.name, "") in silences or (rule.name, subject) in silences
                    incident = open_now.get(subject)
                    moved, event = self._move(rule, condition, incident, quiet, now)
                    if moved is None:
                        continue
                    deliveries = [] if event is None else self._deliveries(rule, moved, event, now)
                    if incident is None:
                        if not self.store.open(moved, deliveries):
                            continue  # another process opened it a moment ago
                        opened.append(moved)
                    elif event is None and _same(incident, moved):
                        continue  # still firing, unchanged: nothing to write
                    else:
                        self.store.update(moved, deliveries)
                        if moved.state == "resolved":
                            resolved.append(moved)
                        elif event is not None:
                            again.append(moved)
                    queued += len(deliveries)
                firing += len(self.store.open_incidents(rule.name))
            return Evaluation(
                now, len(gathered), tuple(opened), tuple(again), tuple(resolved), queued, firing
            )

    def run_once(self, now: datetime | None = None) -> tuple[Evaluation, list[Outcome]]:
        """Evaluate, then deliver what is due, both at ``now``: one round of ``weir serve``'s."""
        now = as_utc(now or self.clock())
        return self.evaluate(now), self.deliver_pending(now)

    def deliver_pending(self, now: datetime | None = None) -> list[Outcome]:
        """Send every delivery that is due; a failure waits longer each time and stays pending."""
        now = as_utc(now or self.clock())
        outcomes: list[Outcome] = []
        with self._lock:
            # each delivery claimed leaves the due set (sent, or pending until later)
            while batch := self.store.due(now):
                taken = 0
                for delivery in batch:
                    if self.store.claim(delivery, now + CLAIM):  # just before it is sent
                        outcomes.append(self._attempt(delivery, now))
                        taken += 1
                if not taken:
                    break
        return outcomes

    def test(self, rule: str) -> list[Outcome]:
        """Send a test notice through each of the rule's channels now; each channel's outcome."""
        config = self.rule(rule)
        now = as_utc(self.clock())
        notice = Notice(
            project=self.files.config.name,
            rule=config.name,
            kind=config.kind,
            subject="test",
            event="test",
            severity=config.severity or "info",
            message=f"a test of the alert rule {config.name}: its channels reach you",
        )
        outcomes = []
        for channel in config.channels:
            delivery = _delivery(config.name, channel, None, "test", notice, now)
            # stored as claimed: a delivery round running meanwhile leaves it to this call
            self.store.queue([replace(delivery, next_attempt_at=now + CLAIM)])
            outcomes.append(self._attempt(delivery, now, retry=False))
        return outcomes

    def close(self) -> None:
        """Let go of the channels' connections."""
        self.channels.close()

    # -- inside ------------------------------------------------------------------------
    def _computed(self, now: datetime) -> list[Condition]:
        kinds = {rule.kind for rule in self.config.rules}
        found: list[Condition] = []
        for rule in self.config.rules:
            if rule.kind == "kpi_threshold":
                found.extend(_checked(rule.name, partial(kpi_threshold, rule, self.kpis, now)))
        if "stockout" in kinds:
            found.extend(_checked("stockout", lambda: stockouts(self.lake, now)))
        if "audit_failed" in kinds:
            found.extend(_checked("audit_failed", lambda: audit_chain(self.audit, now)))
        if "pii_found" in kinds:
            still_open = {
                subject
                for rule in self.config.rules
                if rule.kind == "pii_found"
                for subject in self.store.open_incidents(rule.name)
            }
            found.extend(
                _checked("pii_found", lambda: pii_found(self.store.store, still_open, now))
            )
        return found

    def _move(
        self,
        rule: AlertRuleConfig,
        condition: Condition,
        incident: Incident | None,
        quiet: bool,
        now: datetime,
    ) -> tuple[Incident | None, Event | None]:
        """The incident after ``condition`` (None: nothing to store) and the event to send, if any."""
        severity = rule.severity or condition.severity
        detail = dict(condition.detail)
        if not condition.firing:
            if incident is None:
                return None, None
            told = incident.notified_at is not None and not quiet
            done = replace(
                incident,
                state="resolved",
                message=condition.message,
                detail=detail,
                updated_at=now,
                resolved_at=now,
                notifications=incident.notifications + (1 if told else 0),
            )
            return done, "resolved" if told else None
        if incident is None:
            fresh = Incident(
                incident_id=new_id(),
                rule=rule.name,
                subject=condition.subject,
                kind=rule.kind,
                severity=severity,
                state="firing",
                message=condition.message,
                detail=detail,
                started_at=as_utc(condition.at) if condition.at else now,
                updated_at=now,
                resolved_at=None,
                notified_at=None if quiet else now,
                notifications=0 if quiet else 1,
            )
            return fresh, None if quiet else "firing"
        event: Event | None = None
        if not quiet:
            every = rule.renotify_every
            if incident.notified_at is None:
                event = "firing"  # it fired while silenced: tell now the silence is over
            elif every is not None and now - incident.notified_at >= every:
                event = "renotify"
        moved = replace(
            incident,
            message=condition.message,
            detail=detail,
            severity=severity,
            updated_at=now,
            notified_at=now if event else incident.notified_at,
            notifications=incident.notifications + (1 if event else 0),
        )
        return moved, event

    def _deliveries(
        self, rule: AlertRuleConfig, incident: Incident, event: Event, now: datetime
    ) -> list[Delivery]:
        notice = Notice(
            project=self.files.config.name,
            rule=rule.name,
            kind=rule.kind,
            subject=incident.subject,
            event=event,
            severity=incident.severity,
            message=incident.message,
            started_at=iso(incident.started_at),
            resolved_at=iso(incident.resolved_at),
            incident_id=incident.incident_id,
            detail=incident.detail,
        )
        return [
            _delivery(rule.name, channel, incident.incident_id, event, notice, now)
            for channel in rule.channels
        ]

    def _attempt(self, delivery: Delivery, now: datetime, retry: bool = True) -> Outcome:
        notice = delivery.notice
        try:
            self.channels.send(delivery.channel, notice)
        except DeliveryError as exc:
            error = str(exc)
            gone = delivery.channel not in self.config.channels
            next_at = None if gone or not retry else now + self._backoff(delivery.attempts + 1)
            status: Status = "pending" if next_at is not None else "failed"
            self.store.record(delivery, now, error, next_at, status)
            logger.warning("alert %s to %s failed: %s", notice.title(), delivery.channel, error)
            return Outcome(
                delivery.rule,
                delivery.channel,
                delivery.event,
                notice.subject,
                False,
                error,
                next_at,
            )
        self.store.record(delivery, now, None, None, "sent")
        return Outcome(delivery.rule, delivery.channel, delivery.event, notice.subject, True)

    def _backoff(self, failures: int) -> timedelta:
        """The wait after the ``failures``-th failure: first, twice that, four times … up to the longest."""
        first = parse_duration(self.config.retry.first)
        longest = parse_duration(self.config.retry.longest)
        wait: timedelta = first * 2 ** min(failures - 1, 30)
        return min(wait, longest)

    def _check_kpis(self) -> None:
        """Every KPI a rule names exists (a ProjectError with the line of weir.yml otherwise)."""
        named = [
            (i, field, kpi)
            for i, rule in enumerate(self.config.rules)
            for field, kpis in (("kpi", [rule.kpi] if rule.kpi else []), ("kpis", rule.kpis or []))
            for kpi in kpis
        ]
        if not named:
            return
        known = sorted(self.kpis.catalogue().kpis)
        for index, field, kpi in named:
            if kpi not in known:
                line = rule_line(self.files.root / PROJECT_FILE, index, field)
                where = f"{PROJECT_FILE}:{line}" if line else PROJECT_FILE
                hint = NotFoundError.among("KPI", kpi, known, "", quoted=True).fix
                raise ProjectError(
                    f"{where}: alerts.rules[{index}].{field}: no KPI named '{kpi}'",
                    hint or f"name one of the KPIs under metrics/: {', '.join(known)}",
                )


def _same(before: Incident, after: Incident) -> bool:
    """Whether an incident still firing says what it said (then it is not written again)."""
    return (before.state, before.message, before.detail, before.severity) == (
        after.state,
        after.message,
        after.detail,
        after.severity,
    )


def _matches(rule: AlertRuleConfig, condition: Condition, wanted: list[str] | None) -> bool:
    """Whether ``condition`` is this rule's: a threshold is its own rule's, others by the filter."""
    if rule.kind == "kpi_threshold":
        return condition.detail.get("rule") == rule.name
    return wanted is None or _covered(rule, condition, wanted)


def _covered(rule: AlertRuleConfig, condition: Condition, wanted: list[str]) -> bool:
    """Whether a rule's filter covers a condition: by its subject, or the detail's key of that filter.

    A ``sources: [pos]`` rule covers a condition about subject ``pos`` or one
    whose detail says ``source: pos``; ``warehouses: [3]`` one whose detail
    says ``warehouse_id: 3``.
    """
    key = FILTER_KEYS.get(rule.kind)
    names = {condition.subject}
    if key is not None and condition.detail.get(key) is not None:
        names.add(str(condition.detail[key]))
    return any(w in names for w in wanted)


def _delivery(
    rule: str, channel: str, incident_id: str | None, event: Event, notice: Notice, now: datetime
) -> Delivery:
    return Delivery(
        delivery_id=new_id(),
        incident_id=incident_id,
        rule=rule,
        channel=channel,
        event=event,
        notice=notice,
        status="pending",
        attempts=0,
        created_at=now,
        last_attempt_at=None,
        next_attempt_at=now,
        last_error=None,
    )


def _checked(name: str, check: Any) -> list[Condition]:
    """A computed check's conditions; a check that fails is logged and reports nothing this time."""
    try:
        found: list[Condition] = check()
    except NotFoundError as exc:  # its mart is not built yet
        logger.info("the alert check %s has nothing to read yet: %s", name, exc)
        return []
    except WeirError as exc:
        logger.warning("the alert check %s could not run: %s", name, exc)
        return []
    except Exception:  # a bug in one check must not stop the others (nor the deliveries)
        logger.exception("the alert check %s failed", name)
        return []
    return found
