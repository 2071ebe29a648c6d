"""Volume: how many records of each source arrived for each day, read from the raw layer.

``raw.<source>`` keeps every record received with its fate (``_status``), so
one query gives, per day, the records taken in (accepted or quarantined) and
the duplicates re-sent. A record's day is its event day (the source's
``time_column`` cast as its contract casts it), an entity extract's day is
the date in its file name, and otherwise the day it was received. Days
between the first and the last with records and none of their own count
zero: a missing file is a day of zero, not a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from weir.ingest.contract import EXTRACT_DATE_SQL, Contract
from weir.lake import Lake, LakeViews
from weir.project.config import SourceConfig

Series = dict[date, float | None]


@dataclass(frozen=True)
class DailyVolume:
    """A source's records and duplicates per day, every day from its first to its last."""

    source: str
    records: Series
    duplicates: Series
    files: Series  # files named with a day: how many of each day's arrived (else empty)


def day_sql(source: SourceConfig) -> str:
    """The SQL of a raw record's day."""
    if source.time_column is not None:
        typed = Contract(source).typed_sql(source.column(source.time_column))
        return f"CAST({typed} AS DATE)"
    if source.kind == "entity":
        return EXTRACT_DATE_SQL
    return "CAST(_received_at AS DATE)"


def daily_volume(lake: Lake, source: SourceConfig) -> DailyVolume:
    """The daily counts of ``source`` from ``raw.<source>`` (empty when nothing was ingested)."""
    if not lake.exists("raw", source.name):
        return DailyVolume(source.name, {}, {}, {})
    views = LakeViews(lake)
    dataset = f"raw.{source.name}"
    raw = views.view_sql(dataset)
    sql = (
        f"SELECT {day_sql(source)} AS day,"
        " count(*) FILTER (WHERE _status <> 'duplicate') AS records,"
        " count(*) FILTER (WHERE _status = 'duplicate') AS duplicates"
        f" FROM {raw} GROUP BY 1 HAVING day IS NOT NULL ORDER BY 1"
    )
    # a file whose name carries a day (pos_2025-03-14_store012.csv) is that day's file
    files_sql = (
        f"SELECT {EXTRACT_DATE_SQL} AS day, count(DISTINCT _source_file) AS files"
        f" FROM {raw} GROUP BY 1 HAVING day IS NOT NULL ORDER BY 1"
    )
    session, _ = views.session([dataset])
    try:
        rows = views.run(session, sql)[0].to_pylist()
        named = views.run(session, files_sql)[0].to_pylist() if source.kind == "events" else []
    finally:
        session.close()
        views.close()
    return DailyVolume(
        source.name,
        _filled({r["day"]: float(r["records"]) for r in rows}),
        _filled({r["day"]: float(r["duplicates"]) for r in rows}),
        _filled({r["day"]: float(r["files"]) for r in named}),
    )


def _filled(counts: dict[date, float]) -> Series:
    if not counts:
        return {}
    first, last = min(counts), max(counts)
    days = (last - first).days + 1
    return {first + timedelta(d): counts.get(first + timedelta(d), 0.0) for d in range(days)}
