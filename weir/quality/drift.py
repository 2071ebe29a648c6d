"""Schema drift: columns that appeared, vanished or look renamed, read from the quarantine.

weir's readers refuse a record whose file header does not match the contract
and say why in its reasons: ``unknown column 'amount' (renamed from
'revenue'?)``, ``missing column 'revenue'`` (a CSV header), ``unknown field
'coupon'`` (a JSON record). Those reasons, counted over the records held in
``quarantine.<source>``, are the source's drift: a renamed column is named once
as renamed (not also as appeared and vanished).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from weir.lake import Lake, LakeViews
from weir.quality.checks import Check

_RENAMED = re.compile(r"unknown column '([^']*)' \(renamed from '([^']*)'\?\)")
_UNKNOWN_COLUMN = re.compile(r"unknown column '([^']*)'(?! \(renamed)")
_MISSING = re.compile(r"missing column '([^']*)'")
_UNKNOWN_FIELDS = re.compile(r"^unknown fields? (.*): add it to the contract")
_QUOTED = re.compile(r"'([^']*)'")
K = TypeVar("K")
_DRIFT_REASONS = ("file header does not match the contract%", "unknown field%")


@dataclass
class Drift:
    """What a source's quarantined records say about its columns."""

    source: str
    appeared: dict[str, int] = field(default_factory=dict)  # column → records
    vanished: dict[str, int] = field(default_factory=dict)
    renamed: dict[tuple[str, str], int] = field(default_factory=dict)  # (old, new) → records
    first_day: date | None = None  # the first day a record with drift was received

    @property
    def found(self) -> bool:
        return bool(self.appeared or self.vanished or self.renamed)

    def add(self, reason: str, records: int) -> None:
        renamed = _RENAMED.findall(reason)
        for new, old in renamed:
            _count(self.renamed, (old, new), records)
        olds = {old for _, old in renamed}
        for name in _UNKNOWN_COLUMN.findall(reason):
            _count(self.appeared, name, records)
        for name in _MISSING.findall(reason):
            if name not in olds:
                _count(self.vanished, name, records)
        fields = _UNKNOWN_FIELDS.match(reason)
        if fields:
            for name in _QUOTED.findall(fields.group(1)):
                _count(self.appeared, name, records)

    def describe(self) -> str:
        parts = [f"'{old}' looks renamed to '{new}'" for old, new in sorted(self.renamed)]
        parts += [f"'{name}' appeared" for name in sorted(self.appeared)]
        parts += [f"'{name}' vanished" for name in sorted(self.vanished)]
        return "; ".join(parts)

    def records(self) -> int:
        return max([*self.appeared.values(), *self.vanished.values(), *self.renamed.values(), 0])


def _count(counts: dict[K, int], key: K, records: int) -> None:
    counts[key] = counts.get(key, 0) + records


def source_drift(lake: Lake, source: str) -> Drift:
    """The drift ``quarantine.<source>`` holds (none when nothing is held)."""
    drift = Drift(source)
    if not lake.exists("quarantine", source):
        return drift
    views = LakeViews(lake)
    dataset = f"quarantine.{source}"
    like = " OR ".join(f"reason LIKE '{pattern}'" for pattern in _DRIFT_REASONS)
    sql = (
        "SELECT reason, count(*) AS records, min(CAST(_received_at AS DATE)) AS first_day"
        f" FROM (SELECT unnest(_reasons) AS reason, _received_at FROM {views.view_sql(dataset)})"
        f" WHERE {like} GROUP BY reason ORDER BY reason"
    )
    session, _ = views.session([dataset])
    try:
        rows = views.run(session, sql)[0].to_pylist()
    finally:
        session.close()
        views.close()
    for row in rows:
        drift.add(row["reason"], int(row["records"]))
        if drift.first_day is None or row["first_day"] < drift.first_day:
            drift.first_day = row["first_day"]
    return drift


def drift_check(drift: Drift, now: float) -> Check:
    """A source's drift as a check: an error while records with drift are held."""
    if not drift.found:
        return Check(
            kind="schema_drift",
            subject=drift.source,
            state="ok",
            message=f"source {drift.source}: no column drift in quarantine",
            checked_at=now,
            observed=0.0,
        )
    since = f" since {drift.first_day.isoformat()}" if drift.first_day else ""
    return Check(
        kind="schema_drift",
        subject=drift.source,
        state="error",
        message=(
            f"source {drift.source}: {drift.describe()} ({drift.records():,} records held"
            f" in quarantine{since}); fix the export, or the contract and then"
            f" `weir quarantine replay {drift.source}`"
        ),
        checked_at=now,
        day=drift.first_day,
        observed=float(drift.records()),
    )
