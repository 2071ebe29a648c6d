"""Flagged days: days whose KPI inputs are known to be wrong, with the reason, who and what.

A day is flagged by a quality check (``auto``) or by a person (``user``), for
one KPI or, when ``kpi`` is empty, for every KPI. KPI questions asked with
``exclude_flagged`` leave out the days flagged for their KPI or for all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

import sqlalchemy as sa

from weir.metadata import MetadataStore

FlaggedBy = Literal["auto", "user"]
FLAGGED_BY: tuple[str, ...] = get_args(FlaggedBy)


@dataclass(frozen=True)
class FlaggedDay:
    """One flag: the day, what it is about, why, who flagged it and for which KPI."""

    day: date
    dataset: str  # what the flag is about: a KPI, a source, or "all"
    reason: str
    flagged_at: float
    flagged_by: FlaggedBy = "user"
    by_name: str | None = None  # the check or the user who flagged it
    kpi: str | None = None  # None: every KPI

    def concerns(self, kpi: str | None) -> bool:
        """Whether answers of ``kpi`` leave this day out (a flag for all KPIs concerns each)."""
        return self.kpi is None or kpi is None or self.kpi == kpi


class DayFlags:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def flag(
        self,
        day: date,
        dataset: str,
        reason: str,
        flagged_by: FlaggedBy = "user",
        by_name: str | None = None,
        kpi: str | None = None,
        at: float | None = None,
    ) -> FlaggedDay:
        """Flag ``day`` for ``dataset`` (a second flag of the same pair replaces the first)."""
        entry = FlaggedDay(
            day, dataset, reason, time.time() if at is None else at, flagged_by, by_name, kpi
        )
        with self.store.begin() as db:
            db.execute(
                sa.text("DELETE FROM weir_flagged_days WHERE day = :d AND dataset = :s"),
                {"d": day.isoformat(), "s": dataset},
            )
            db.execute(
                sa.text(
                    "INSERT INTO weir_flagged_days "
                    "(day, dataset, reason, flagged_at, flagged_by, by_name, kpi) "
                    "VALUES (:d, :s, :r, :t, :b, :n, :k)"
                ),
                {
                    "d": day.isoformat(),
                    "s": dataset,
                    "r": reason,
                    "t": entry.flagged_at,
                    "b": flagged_by,
                    "n": by_name,
                    "k": kpi,
                },
            )
        return entry

    def unflag(self, day: date, kpi: str | None = None) -> list[FlaggedDay]:
        """Remove the flags of ``day`` (only those for ``kpi`` when given); returns them."""
        gone = [f for f in self.entries() if f.day == day and (kpi is None or f.kpi == kpi)]
        with self.store.begin() as db:
            for flag in gone:
                db.execute(
                    sa.text("DELETE FROM weir_flagged_days WHERE day = :d AND dataset = :s"),
                    {"d": day.isoformat(), "s": flag.dataset},
                )
        return gone

    def remove(self, day: date, dataset: str) -> None:
        """Remove the flag of ``day`` for ``dataset``, if there is one."""
        with self.store.begin() as db:
            db.execute(
                sa.text("DELETE FROM weir_flagged_days WHERE day = :d AND dataset = :s"),
                {"d": day.isoformat(), "s": dataset},
            )

    def entries(self) -> list[FlaggedDay]:
        """Every flag, by day then dataset."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT day, dataset, reason, flagged_at, flagged_by, by_name, kpi "
                    "FROM weir_flagged_days ORDER BY day, dataset"
                )
            ).all()
        return [
            FlaggedDay(
                date.fromisoformat(day),
                dataset,
                reason,
                float(at),
                "auto" if by == "auto" else "user",
                name,
                kpi,
            )
            for day, dataset, reason, at, by, name, kpi in rows
        ]

    def days(self) -> list[tuple[date, str, str]]:
        return [(f.day, f.dataset, f.reason) for f in self.entries()]

    def days_for(self, kpi: str | None = None) -> list[date]:
        """The days answers of ``kpi`` leave out: flagged for it or for every KPI."""
        return sorted({f.day for f in self.entries() if f.concerns(kpi)})
