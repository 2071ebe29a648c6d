"""Where each source stands: its last batch, its totals, its freshness, its quarantine."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from weir.engine import Session, ident
from weir.ingest.ledger import BatchRecord, Counts, Ledger
from weir.lake import Lake
from weir.project import ProjectFiles

if TYPE_CHECKING:
    from weir.lake import Snapshot


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


# what a lake table's snapshot gave once, to reuse until the table has a new snapshot:
# (layer, table, snapshot id) -> the answer
SnapshotCache = dict[tuple[str, str, int | None], Any]
_UNKNOWN = object()  # not in the cache (None is an answer: no record yet)


def source_statuses(
    project: ProjectFiles, lake: Lake, ledger: Ledger, cache: SnapshotCache | None = None
) -> list[SourceStatus]:
    """Every source's status; ``cache`` keeps each newest record time by the snapshot it read."""
    out = []
    tables = set(lake.tables())  # listed once, not asked table by table
    cache = {} if cache is None else cache
    with _Reader(lake) as reader:  # a session is opened only for what the cache lacks
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
                    newest_record=_newest(reader, lake, tables, name, source.time_column, cache),
                )
            )
    return out


class _Reader:
    """A DuckDB session opened when first asked for (opening one takes tens of ms)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.stack = ExitStack()
        self.session: Session | None = None

    def __call__(self) -> Session:
        if self.session is None:
            self.session = self.stack.enter_context(self.lake.engine.writer())
        return self.session

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stack.close()


def _count(lake: Lake, tables: set[tuple[str, str]], layer: str, name: str) -> int:
    if (layer, name) not in tables:
        return 0
    snapshot = lake.snapshot_for(layer, name)
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", "0"))


def _newest(
    reader: _Reader,
    lake: Lake,
    tables: set[tuple[str, str]],
    name: str,
    time_column: str | None,
    cache: SnapshotCache,
) -> datetime | None:
    if time_column is None or ("staging", name) not in tables:
        return None
    snapshot = lake.snapshot_for("staging", name)
    key = ("staging", name, snapshot.snapshot_id if snapshot is not None else None)
    found = cache.get(key, _UNKNOWN)  # one read: another thread may clear the cache meanwhile
    if found is not _UNKNOWN:
        known: datetime | None = found
        return known
    newest = _newest_in(reader(), lake, name, time_column, snapshot)
    cache[key] = newest
    return newest


def _newest_in(
    con: Session, lake: Lake, name: str, time_column: str, snapshot: Snapshot | None
) -> datetime | None:
    files = lake.data_files("staging", name, snapshot)
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


def quarantine_summary(
    lake: Lake, project: ProjectFiles, cache: SnapshotCache | None = None
) -> pa.Table:
    """Per source and reason: how many records are held (``cache``: counted once per snapshot)."""
    rows: list[dict[str, object]] = []
    cache = {} if cache is None else cache
    tables = set(lake.tables())  # listed once, not asked table by table
    for name in sorted(project.sources):
        if ("quarantine", name) not in tables:
            continue
        snapshot = lake.snapshot_for("quarantine", name)
        key = ("quarantine", name, snapshot.snapshot_id if snapshot is not None else None)
        held = cache.get(key)  # one read: another thread may clear the cache meanwhile
        if held is None:
            held = cache[key] = _reasons_held(lake, name, snapshot)
        rows.extend({"source": name, "reason": reason, "records": n} for reason, n in held)
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("source", pa.string()), ("reason", pa.string()), ("records", pa.int64())]
        ),
    )


def _reasons_held(lake: Lake, name: str, snapshot: Snapshot | None) -> list[tuple[str, int]]:
    """Each reason (its quoted values left out) and how many held records of ``name`` give it."""
    files = lake.data_files("quarantine", name, snapshot)
    if not files:
        return []
    with lake.engine.writer() as con:
        found = con.execute(
            "SELECT regexp_replace(reason, '''[^'']*''', '…', 'g') AS reason, count(*) AS records "
            f"FROM (SELECT unnest(_reasons) AS reason FROM {lake.engine.scan(files)}) GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    return [(str(reason), int(n)) for reason, n in found]
