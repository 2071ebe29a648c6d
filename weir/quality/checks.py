"""A check's result as a plain record, and the table that keeps every result.

A ``Check`` is what one evaluation found about one subject: a source's
freshness, volume or schema, or a KPI's daily value. Alerting turns checks
into firing and resolved conditions by their ``key`` (kind and subject):
a state other than ``ok`` fires, the next ``ok`` resolves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa

from weir.metadata import MetadataStore

CheckKind = Literal["freshness", "volume", "schema_drift", "kpi_anomaly"]
CHECK_KINDS: tuple[str, ...] = get_args(CheckKind)
CheckState = Literal["ok", "warn", "error"]
CHECK_STATES: tuple[str, ...] = get_args(CheckState)
_RANK = {"ok": 0, "warn": 1, "error": 2}


def worst(states: Iterable[str]) -> CheckState:
    """The most severe of ``states`` (``ok`` when there are none)."""
    found: CheckState = "ok"
    for state in states:
        if _RANK.get(state, 0) > _RANK[found]:
            found = "warn" if state == "warn" else "error"
    return found


@dataclass(frozen=True)
class Check:
    """One check's result: what was judged, its state, and the numbers behind it."""

    kind: CheckKind
    subject: str  # a source's name (``pos``, ``pos:duplicates``) or a KPI's
    state: CheckState
    message: str
    checked_at: float  # epoch seconds
    day: date | None = None  # the day judged (volume, anomalies), if any
    observed: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None

    @property
    def key(self) -> str:
        """What an alert follows: the same key over time is the same condition."""
        return f"{self.kind}:{self.subject}"

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["day"] = self.day.isoformat() if self.day else None
        return row


class CheckLog:
    """Writes each evaluation's checks and reads the latest ones back."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def record(self, checks: Sequence[Check]) -> None:
        if not checks:
            return
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_quality_checks (checked_at, kind, subject, state, message,"
                    " day, observed, expected_low, expected_high)"
                    " VALUES (:checked_at, :kind, :subject, :state, :message, :day, :observed,"
                    " :expected_low, :expected_high)"
                ),
                [c.as_row() for c in checks],
            )

    def latest(self, kind: CheckKind | None = None) -> list[Check]:
        """The checks of the newest evaluation of each (kind, subject)."""
        where = "WHERE c.kind = :kind" if kind else ""
        query = (
            "SELECT c.* FROM weir_quality_checks c JOIN ("
            " SELECT kind, subject, max(checked_at) AS at FROM weir_quality_checks"
            " GROUP BY kind, subject) n"
            " ON n.kind = c.kind AND n.subject = c.subject AND n.at = c.checked_at "
            f"{where} ORDER BY c.kind, c.subject, c.day"
        )
        with self.store.begin() as db:
            rows = db.execute(sa.text(query), {"kind": kind} if kind else {}).mappings().all()
        return [_check(row) for row in rows]

    def history(self, limit: int = 1000) -> list[Check]:
        """The newest recorded checks first."""
        with self.store.begin() as db:
            rows = (
                db.execute(
                    sa.text(
                        "SELECT * FROM weir_quality_checks ORDER BY checked_at DESC, kind, subject"
                        f" LIMIT {int(limit)}"
                    )
                )
                .mappings()
                .all()
            )
        return [_check(row) for row in rows]


def _check(row: sa.RowMapping) -> Check:
    kind = cast(CheckKind, row["kind"] if row["kind"] in CHECK_KINDS else "volume")
    state = cast(CheckState, row["state"] if row["state"] in CHECK_STATES else "error")
    return Check(
        kind=kind,
        subject=row["subject"],
        state=state,
        message=row["message"],
        checked_at=float(row["checked_at"]),
        day=date.fromisoformat(row["day"]) if row["day"] else None,
        observed=row["observed"],
        expected_low=row["expected_low"],
        expected_high=row["expected_high"],
    )
