"""Where each source stands: its last batch, its totals, its freshness, its quarantine."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from weir.engine import Session, ident
from weir.ingest.ledger import BatchRecord, Counts, Ledger
from weir.lake import Lake
from weir.project import ProjectFiles


@dataclass(frozen=True)
class SourceStatus:
    source: str
    format: str
    batches: int
    files: int
    totals: Counts
    held: int  # records in quarantine now
    last_batch: BatchRecord | None
    newest_record: datetime | None

    @property
    def freshness_seconds(self) -> float | None:
        if self.newest_record is None:
            return None
        return time.time() - self.newest_record.timestamp()


def totals_of(batches: list[BatchRecord]) -> Counts:
    """A source's totals over committed batches; a replay moves records out of quarantine."""
    received = accepted = quarantined = duplicates = suppressed = 0
    for batch in batches:
        if batch.status != "committed":
            continue
        c = batch.counts
        if batch.kind != "replay":  # files and stream batches take records in
            received += c.received
            quarantined += c.quarantined
        else:  # suppressed records leave quarantine as well as released ones
            quarantined -= c.released + c.suppressed
        accepted += c.accepted
        duplicates += c.duplicates
        suppressed += c.suppressed
    return Counts(received, accepted, quarantined, duplicates, suppressed=suppressed)


def source_statuses(project: ProjectFiles, lake: Lake, ledger: Ledger) -> list[SourceStatus]:
    out = []
    tables = set(lake.tables())  # listed once, not asked table by table
    with lake.engine.writer() as con:
        for name, source in sorted(project.sources.items()):
            batches = ledger.batches(name)
            committed = [b for b in batches if b.status == "committed"]
            out.append(
                SourceStatus(
                    source=name,
                    format=source.format,
                    batches=len(committed),
                    files=sum(b.files for b in committed),
                    totals=totals_of(batches),
                    held=_count(lake, tables, "quarantine", name),
                    last_batch=batches[0] if batches else None,
                    newest_record=_newest(con, lake, tables, name, source.time_column),
                )
            )
    return out


def _count(lake: Lake, tables: set[tuple[str, str]], layer: str, name: str) -> int:
    if (layer, name) not in tables:
        return 0
    snapshot = lake.snapshot_for(layer, name)
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", "0"))


def _newest(
    con: Session, lake: Lake, tables: set[tuple[str, str]], name: str, time_column: str | None
) -> datetime | None:
    if time_column is None or ("staging", name) not in tables:
        return None
    files = lake.data_files("staging", name, lake.snapshot_for("staging", name))
    if not files:
        return None
    # through Arrow: DuckDB's own conversion of a TIMESTAMPTZ to Python needs pytz,
    # which weir does not depend on
    result = con.arrow(f"SELECT max({ident(time_column)}) FROM {lake.engine.scan(files)}")
    moment = result.column(0)[0].as_py()
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, datetime.min.time()).astimezone()


def quarantine_summary(lake: Lake, project: ProjectFiles) -> pa.Table:
    """Per source and reason: how many records are held."""
    rows: list[dict[str, object]] = []
    with lake.engine.writer() as con:
        for name in sorted(project.sources):
            if not lake.exists("quarantine", name):
                continue
            files = lake.data_files("quarantine", name, lake.snapshot_for("quarantine", name))
            if not files:
                continue
            result = con.execute(
                "SELECT regexp_replace(reason, '''[^'']*''', '…', 'g') AS reason, count(*) AS records "
                f"FROM (SELECT unnest(_reasons) AS reason FROM {lake.engine.scan(files)}) GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
            rows.extend({"source": name, "reason": reason, "records": n} for reason, n in result)
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("source", pa.string()), ("reason", pa.string()), ("records", pa.int64())]
        ),
    )
