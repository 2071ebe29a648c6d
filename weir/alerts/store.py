"""Incidents, deliveries, attempts and silences in the metadata database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weir.alerts.records import (
    Attempt,
    Delivery,
    Event,
    Incident,
    Notice,
    State,
    Status,
    epoch,
    from_epoch,
)
from weir.metadata import MetadataStore

_INCIDENT = (
    "incident_id, rule, subject, kind, severity, state, message, detail, started_at, "
    "updated_at, resolved_at, notified_at, notifications"
)
_DELIVERY = (
    "delivery_id, incident_id, rule, channel, event, payload, status, attempts, created_at, "
    "last_attempt_at, next_attempt_at, last_error"
)


def new_id() -> str:
    return uuid.uuid4().hex


class AlertStore:
    """The alert tables of one project's metadata database."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- incidents ---------------------------------------------------------------------
    def open_incidents(self, rule: str) -> dict[str, Incident]:
        """The firing incidents of ``rule``, by subject."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    f"SELECT {_INCIDENT} FROM weir_alert_incidents "
                    "WHERE rule = :rule AND state = 'firing'"
                ),
                {"rule": rule},
            )
            return {row.subject: _incident(row) for row in rows}

    def incidents(
        self, rule: str | None = None, state: State | None = None, limit: int = 100
    ) -> list[Incident]:
        """Incidents, newest first."""
        where, params = _where(rule=rule, state=state)
        params["limit"] = limit
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    f"SELECT {_INCIDENT} FROM weir_alert_incidents{where} "
                    "ORDER BY started_at DESC, incident_id LIMIT :limit"
                ),
                params,
            )
            return [_incident(row) for row in rows]

    def firing_counts(self) -> dict[str, int]:
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT rule, count(*) FROM weir_alert_incidents "
                    "WHERE state = 'firing' GROUP BY rule"
                )
            )
            return {str(rule): int(count) for rule, count in rows}

    def open(self, incident: Incident, deliveries: Sequence[Delivery]) -> bool:
        """Store a new incident and the deliveries that announce it, in one transaction.

        False when another process opened the same (rule, subject) first: nothing is stored.
        """
        try:
            with self.store.begin() as db:
                self._open(db, incident, deliveries)
        except sa.exc.IntegrityError:
            return False
        return True

    def _open(self, db: Connection, incident: Incident, deliveries: Sequence[Delivery]) -> None:
        db.execute(
            sa.text(
                f"INSERT INTO weir_alert_incidents ({_INCIDENT}) VALUES (:incident_id, "
                ":rule, :subject, :kind, :severity, :state, :message, :detail, :started_at, "
                ":updated_at, :resolved_at, :notified_at, :notifications)"
            ),
            _incident_params(incident),
        )
        _queue(db, deliveries)

    def update(self, incident: Incident, deliveries: Sequence[Delivery] = ()) -> None:
        """Write an incident's new state (and queue its deliveries), in one transaction."""
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_alert_incidents SET state = :state, message = :message, "
                    "detail = :detail, severity = :severity, updated_at = :updated_at, "
                    "resolved_at = :resolved_at, notified_at = :notified_at, "
                    "notifications = :notifications WHERE incident_id = :incident_id"
                ),
                _incident_params(incident),
            )
            _queue(db, deliveries)

    # -- deliveries --------------------------------------------------------------------
    def queue(self, deliveries: Sequence[Delivery]) -> None:
        with self.store.begin() as db:
            _queue(db, deliveries)

    def due(self, now: datetime, limit: int = 500) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    f"SELECT {_DELIVERY} FROM weir_alert_deliveries "
                    "WHERE status = 'pending' AND next_attempt_at <= :now "
                    "ORDER BY created_at, delivery_id LIMIT :limit"
                ),
                {"now": epoch(now), "limit": limit},
            )
            return [_delivery(row) for row in rows]

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Take ``delivery`` for sending until ``until``; False when another process took it first.

        The claim moves its next attempt to ``until``: a process that dies while
        sending leaves it to be tried again then, never lost.
        """
        with self.store.begin() as db:
            taken = db.execute(
                sa.text(
                    "UPDATE weir_alert_deliveries SET next_attempt_at = :until "
                    "WHERE delivery_id = :d AND status = 'pending' AND next_attempt_at = :was"
                ),
                {
                    "d": delivery.delivery_id,
                    "until": epoch(until),
                    "was": epoch(delivery.next_attempt_at) if delivery.next_attempt_at else None,
                },
            )
            return bool(taken.rowcount == 1)

    def record(
        self,
        delivery: Delivery,
        at: datetime,
        error: str | None,
        next_at: datetime | None,
        status: Status,
    ) -> None:
        """One attempt at ``delivery``: kept, and the delivery moved to ``status``."""
        attempt = delivery.attempts + 1
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_alert_attempts (delivery_id, attempt, at, channel, outcome, "
                    "error, next_attempt_at) VALUES (:d, :n, :at, :channel, :outcome, :error, :next)"
                ),
                {
                    "d": delivery.delivery_id,
                    "n": attempt,
                    "at": epoch(at),
                    "channel": delivery.channel,
                    "outcome": "sent" if error is None else "failed",
                    "error": error,
                    "next": epoch(next_at) if next_at else None,
                },
            )
            db.execute(
                sa.text(
                    "UPDATE weir_alert_deliveries SET status = :status, attempts = :n, "
                    "last_attempt_at = :at, next_attempt_at = :next, last_error = :error "
                    "WHERE delivery_id = :d"
                ),
                {
                    "d": delivery.delivery_id,
                    "n": attempt,
                    "at": epoch(at),
                    "status": status,
                    "error": error,
                    "next": epoch(next_at) if next_at else None,
                },
            )

    def deliveries(
        self, rule: str | None = None, limit: int = 100, incident_id: str | None = None
    ) -> list[Delivery]:
        """Deliveries newest first, each with its attempts."""
        where, params = _where(rule=rule, incident_id=incident_id)
        params["limit"] = limit
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    f"SELECT {_DELIVERY} FROM weir_alert_deliveries{where} "
                    "ORDER BY created_at DESC, delivery_id DESC LIMIT :limit"
                ),
                params,
            ).fetchall()
            found = [_delivery(row) for row in rows]
            tries: dict[str, list[Attempt]] = {d.delivery_id: [] for d in found}
            if tries:
                ids = list(tries)
                attempts = db.execute(
                    sa.text(
                        "SELECT delivery_id, attempt, at, channel, outcome, error, next_attempt_at "
                        "FROM weir_alert_attempts WHERE delivery_id IN :ids "
                        "ORDER BY delivery_id, attempt"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": ids},
                )
                for row in attempts:
                    tries[row.delivery_id].append(
                        Attempt(
                            int(row.attempt),
                            cast(datetime, from_epoch(row.at)),
                            row.channel,
                            row.outcome,
                            row.error,
                            from_epoch(row.next_attempt_at),
                        )
                    )
        return [_with_tries(d, tuple(tries[d.delivery_id])) for d in found]

    # -- silences ----------------------------------------------------------------------
    def silence(self, rule: str, subject: str | None, until: datetime, now: datetime) -> None:
        key = {"rule": rule, "subject": subject or ""}
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "DELETE FROM weir_alert_silences WHERE rule = :rule AND subject = :subject"
                ),
                key,
            )
            db.execute(
                sa.text(
                    "INSERT INTO weir_alert_silences (rule, subject, until_at, created_at) "
                    "VALUES (:rule, :subject, :until, :now)"
                ),
                {**key, "until": epoch(until), "now": epoch(now)},
            )

    def silences(self, now: datetime) -> dict[tuple[str, str], datetime]:
        """The silences still in force: (rule, subject or '') → until when."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT rule, subject, until_at FROM weir_alert_silences WHERE until_at > :now"
                ),
                {"now": epoch(now)},
            )
            return {
                (row.rule, row.subject): cast(datetime, from_epoch(row.until_at)) for row in rows
            }


def _where(**filters: Any) -> tuple[str, dict[str, Any]]:
    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        return "", {}
    return " WHERE " + " AND ".join(f"{k} = :{k}" for k in given), given


def _queue(db: Connection, deliveries: Sequence[Delivery]) -> None:
    for d in deliveries:
        db.execute(
            sa.text(
                f"INSERT INTO weir_alert_deliveries ({_DELIVERY}) VALUES (:delivery_id, "
                ":incident_id, :rule, :channel, :event, :payload, :status, :attempts, "
                ":created_at, :last_attempt_at, :next_attempt_at, :last_error)"
            ),
            {
                "delivery_id": d.delivery_id,
                "incident_id": d.incident_id,
                "rule": d.rule,
                "channel": d.channel,
                "event": d.event,
                "payload": d.notice.dumps(),
                "status": d.status,
                "attempts": d.attempts,
                "created_at": epoch(d.created_at),
                "last_attempt_at": None,
                "next_attempt_at": epoch(d.next_attempt_at) if d.next_attempt_at else None,
                "last_error": None,
            },
        )


def _incident_params(incident: Incident) -> dict[str, Any]:
    return {
        "incident_id": incident.incident_id,
        "rule": incident.rule,
        "subject": incident.subject,
        "kind": incident.kind,
        "severity": incident.severity,
        "state": incident.state,
        "message": incident.message,
        "detail": json.dumps(incident.detail, sort_keys=True, default=str),
        "started_at": epoch(incident.started_at),
        "updated_at": epoch(incident.updated_at),
        "resolved_at": epoch(incident.resolved_at) if incident.resolved_at else None,
        "notified_at": epoch(incident.notified_at) if incident.notified_at else None,
        "notifications": incident.notifications,
    }


def _incident(row: Any) -> Incident:
    return Incident(
        incident_id=row.incident_id,
        rule=row.rule,
        subject=row.subject,
        kind=row.kind,
        severity=row.severity,
        state=row.state,
        message=row.message,
        detail=json.loads(row.detail) if row.detail else {},
        started_at=cast(datetime, from_epoch(row.started_at)),
        updated_at=cast(datetime, from_epoch(row.updated_at)),
        resolved_at=from_epoch(row.resolved_at),
        notified_at=from_epoch(row.notified_at),
        notifications=int(row.notifications),
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        incident_id=row.incident_id,
        rule=row.rule,
        channel=row.channel,
        event=cast(Event, row.event),
        notice=Notice.loads(row.payload),
        status=cast(Status, row.status),
        attempts=int(row.attempts),
        created_at=cast(datetime, from_epoch(row.created_at)),
        last_attempt_at=from_epoch(row.last_attempt_at),
        next_attempt_at=from_epoch(row.next_attempt_at),
        last_error=row.last_error,
    )


def _with_tries(delivery: Delivery, tries: tuple[Attempt, ...]) -> Delivery:
    return replace(delivery, tries=tries)
