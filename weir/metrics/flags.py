"""Days flagged by quality checks: recorded with their reason, left out of KPIs on request."""

from __future__ import annotations

import time
from datetime import date

import sqlalchemy as sa

from weir.metadata import MetadataStore


class DayFlags:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def flag(self, day: date, dataset: str, reason: str) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text("DELETE FROM weir_flagged_days WHERE day = :d AND dataset = :s"),
                {"d": day.isoformat(), "s": dataset},
            )
            db.execute(
                sa.text("INSERT INTO weir_flagged_days VALUES (:d, :s, :r, :t)"),
                {"d": day.isoformat(), "s": dataset, "r": reason, "t": time.time()},
            )

    def days(self) -> list[tuple[date, str, str]]:
        with self.store.begin() as db:
            rows = db.execute(
                sa.text("SELECT day, dataset, reason FROM weir_flagged_days ORDER BY day")
            ).all()
        return [(date.fromisoformat(day), dataset, reason) for day, dataset, reason in rows]
