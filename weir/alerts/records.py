"""What alerts are made of: conditions reported by checks, incidents, deliveries and attempts."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Clock = Callable[[], datetime]
Event = Literal["firing", "renotify", "resolved", "test"]
State = Literal["firing", "resolved"]
Status = Literal["pending", "sent", "failed"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time with a zone (a naive one is read as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def epoch(moment: datetime) -> float:
    return as_utc(moment).timestamp()


def from_epoch(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Condition:
    """What a check found about one subject: firing (something is wrong) or not (it is fine again).

    ``kind`` is a rule kind (``run_failed``, ``freshness``, ``stockout`` …);
    ``subject`` names what it is about (a schedule, a source, a KPI,
    ``warehouse 3 / product 17``); ``at`` is when it was seen (the evaluation
    time when not given).
    """

    kind: str
    subject: str
    firing: bool
    message: str
    severity: str = "error"
    at: datetime | None = None
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False)


ConditionProvider = Callable[[datetime], list[Condition]]


@dataclass(frozen=True)
class Incident:
    """One (rule, subject) from the moment it fired until it was resolved."""

    incident_id: str
    rule: str
    subject: str
    kind: str
    severity: str
    state: State
    message: str
    detail: dict[str, Any]
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    notified_at: datetime | None
    notifications: int

    def as_row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "subject": self.subject,
            "state": self.state,
            "severity": self.severity,
            "message": self.message,
            "started_at": iso(self.started_at),
            "resolved_at": iso(self.resolved_at),
            "notified_at": iso(self.notified_at),
            "notifications": self.notifications,
            "incident_id": self.incident_id,
        }


@dataclass(frozen=True)
class Notice:
    """What one delivery says: an incident's event (or a test), as sent to every channel."""

    project: str
    rule: str
    kind: str
    subject: str
    event: Event
    severity: str
    message: str
    started_at: str | None = None
    resolved_at: str | None = None
    incident_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def title(self) -> str:
        label = {"firing": "FIRING", "renotify": "STILL FIRING", "resolved": "RESOLVED"}.get(
            self.event, "TEST"
        )
        return f"[weir {self.project}] {label} {self.rule}: {self.subject}"

    def text(self) -> str:
        lines = [self.title(), self.message, f"severity {self.severity}, rule kind {self.kind}"]
        if self.started_at:
            lines.append(f"firing since {self.started_at}")
        if self.resolved_at:
            lines.append(f"resolved at {self.resolved_at}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "rule": self.rule,
            "kind": self.kind,
            "subject": self.subject,
            "event": self.event,
            "state": {"resolved": "resolved", "test": "test"}.get(self.event, "firing"),
            "severity": self.severity,
            "message": self.message,
            "started_at": self.started_at,
            "resolved_at": self.resolved_at,
            "incident_id": self.incident_id,
            "detail": self.detail,
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), sort_keys=True, default=str)

    @classmethod
    def loads(cls, text: str) -> Notice:
        data = json.loads(text)
        data.pop("state", None)
        return cls(**data)


@dataclass(frozen=True)
class Attempt:
    """One try at a delivery."""

    attempt: int
    at: datetime
    channel: str
    outcome: Literal["sent", "failed"]
    error: str | None
    next_attempt_at: datetime | None

    def as_row(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": iso(self.at),
            "channel": self.channel,
            "outcome": self.outcome,
            "error": self.error,
            "next_attempt_at": iso(self.next_attempt_at),
        }


@dataclass(frozen=True)
class Delivery:
    """A notice to one channel, pending until the channel takes it; with every attempt."""

    delivery_id: str
    incident_id: str | None
    rule: str
    channel: str
    event: Event
    notice: Notice
    status: Status
    attempts: int
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    tries: tuple[Attempt, ...] = ()

    def as_row(self) -> dict[str, Any]:
        return {
            "created_at": iso(self.created_at),
            "rule": self.rule,
            "subject": self.notice.subject,
            "event": self.event,
            "channel": self.channel,
            "status": self.status,
            "attempts": self.attempts,
            "last_attempt_at": iso(self.last_attempt_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "last_error": self.last_error,
            "delivery_id": self.delivery_id,
        }


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt (``weir alerts test`` and ``deliver_pending``)."""

    rule: str
    channel: str
    event: Event
    subject: str
    ok: bool
    error: str | None = None
    next_attempt_at: datetime | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "channel": self.channel,
            "event": self.event,
            "subject": self.subject,
            "outcome": "sent" if self.ok else "failed",
            "error": self.error,
            "next_attempt_at": iso(self.next_attempt_at),
        }


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did: incidents opened, sent again, resolved; deliveries queued."""

    at: datetime
    conditions: int
    opened: tuple[Incident, ...] = ()
    renotified: tuple[Incident, ...] = ()
    resolved: tuple[Incident, ...] = ()
    queued: int = 0
    firing: int = 0

    def as_row(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "conditions": self.conditions,
            "opened": len(self.opened),
            "renotified": len(self.renotified),
            "resolved": len(self.resolved),
            "queued": self.queued,
            "firing": self.firing,
        }
