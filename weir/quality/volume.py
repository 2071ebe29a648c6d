"""Volume: how many records of each source arrived for each day, read from the raw layer.

``raw.<source>`` keeps every record received with its fate (``_status``), so
one query gives, per day, the records taken in (accepted or quarantined) and
the duplicates re-sent. Records are those accepted (a quarantined record's
time may be anything). A record's day is its event day (the source's
``time_column`` cast as its contract casts it), an entity extract's day is
the date in its file name, and otherwise the day it was received. Days
between the first and the last with records and none of their own count
zero: a missing file is a day of zero, not a gap. For a daily source, the
files of each day (by the date in their names) are counted too.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta

from weir.ingest.contract import EXTRACT_DATE_SQL, Contract
from weir.lake import Lake, LakeViews
from weir.project.config import SourceConfig

Series = dict[date, float | None]
STRAGGLER_SHARE = 0.01


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
        " count(*) FILTER (WHERE _status = 'accepted') AS records,"
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
        daily = source.kind == "events" and source.schedule == "daily"
        named = views.run(session, files_sql)[0].to_pylist() if daily else []
    finally:
        session.close()
        views.close()
    records = _filled({r["day"]: float(r["records"]) for r in rows})
    duplicates = {r["day"]: float(r["duplicates"]) for r in rows}
    return DailyVolume(
        source.name,
        records,
        {day: duplicates.get(day, 0.0) for day in records},
        _filled({r["day"]: float(r["files"]) for r in named}),
    )


def _filled(counts: dict[date, float]) -> Series:
    """Every day from the first to the last a source really had, zero where it had none.

    A day at either end with under 1 % of a median day's count is a straggler (a
    record timed far off), not a day of the source: it does not stretch the series.
    """
    if not counts:
        return {}
    typical = statistics.median(counts.values())
    days = sorted(d for d, n in counts.items() if n > 0 and n >= STRAGGLER_SHARE * typical)
    if not days:
        return {}
    first, last = days[0], days[-1]
    span = (last - first).days + 1
    return {first + timedelta(d): counts.get(first + timedelta(d), 0.0) for d in range(span)}
