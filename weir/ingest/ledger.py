"""The batch ledger: which batches ran, what they counted, which files they took in.

A batch is ``pending`` from before its first lake commit until the single
metadata transaction that marks it ``committed`` together with its files.
A batch left ``pending`` by a crash is rolled back on the next start
(``aborted``), so a file is either wholly in the lake or not at all.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa

from weir.metadata import MetadataStore

BatchKind = Literal["ingest", "replay", "stream"]
BatchStatus = Literal["pending", "committed", "aborted", "failed"]


@dataclass(frozen=True)
class FileEntry:
    path: str
    checksum: str
    size: int
    mtime_ns: int
    # the records the file holds: counted from its bytes when it is found (None for formats
    # whose reader parses the whole document), the batch's figure once it is read
    records: int | None = None
    # CSV: the lines it holds (not stored); more than records + 1 when some line is blank or
    # a quoted field holds a newline, and then record numbers are not line numbers
    lines: int | None = None


@dataclass(frozen=True)
class Counts:
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    released: int = 0  # replay only: quarantined records that left quarantine
    suppressed: int = 0  # about an erased data subject: counted, never stored

    def reconciles(self) -> bool:
        return self.received == self.accepted + self.quarantined + self.duplicates + self.suppressed


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    source: str
    kind: BatchKind
    status: BatchStatus
    started_at: float
    finished_at: float | None
    files: int
    counts: Counts
    seconds: float | None
    snapshots: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def new_batch_id(source: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{source}-{stamp}-{secrets.token_hex(3)}"


class Ledger:
    """Reads and writes the batch and file records."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def start(self, batch_id: str, source: str, kind: BatchKind, started_at: float) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_batches (batch_id, source, kind, status, started_at) "
                    "VALUES (:b, :s, :k, 'pending', :t)"
                ),
                {"b": batch_id, "s": source, "k": kind, "t": started_at},
            )

    def commit(
        self,
        batch_id: str,
        source: str,
        files: Sequence[FileEntry],
        counts: Counts,
        snapshots: dict[str, int],
        seconds: float,
        positions: Mapping[str, str] | None = None,
    ) -> None:
        """Mark the batch committed and record its files (or stream positions), in one transaction."""
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_batches SET status = 'committed', finished_at = :f, files = :n, "
                    "received = :r, accepted = :a, quarantined = :q, duplicates = :d, released = :x, "
                    "suppressed = :sup, seconds = :sec, snapshots = :snap WHERE batch_id = :b AND status = 'pending'"
                ),
                {
                    "f": time.time(),
                    "n": len(files),
                    "r": counts.received,
                    "a": counts.accepted,
                    "q": counts.quarantined,
                    "d": counts.duplicates,
                    "x": counts.released,
                    "sup": counts.suppressed,
                    "sec": seconds,
                    "snap": json.dumps(snapshots),
                    "b": batch_id,
                },
            )
            if files:
                db.execute(
                    sa.text(
                        "INSERT INTO weir_files (source, path, checksum, size, mtime_ns, records, batch_id) "
                        "VALUES (:s, :p, :c, :z, :m, :r, :b)"
                    ),
                    [
                        {
                            "s": source,
                            "p": f.path,
                            "c": f.checksum,
                            "z": f.size,
                            "m": f.mtime_ns,
                            "r": f.records or 0,
                            "b": batch_id,
                        }
                        for f in files
                    ],
                )

            for stream, position in (positions or {}).items():
                moved = db.execute(
                    sa.text(
                        "UPDATE weir_stream_positions SET position = :p, batch_id = :b, "
                        "committed_at = :t WHERE stream = :s"
                    ),
                    {"s": stream, "p": position, "b": batch_id, "t": time.time()},
                )
                if moved.rowcount == 0:
                    db.execute(
                        sa.text(
                            "INSERT INTO weir_stream_positions (stream, source, position, batch_id, committed_at) "
                            "VALUES (:s, :src, :p, :b, :t)"
                        ),
                        {
                            "s": stream,
                            "src": source,
                            "p": position,
                            "b": batch_id,
                            "t": time.time(),
                        },
                    )

    def positions(self, prefix: str = "") -> dict[str, str]:
        """stream → the position of the last committed batch from it (streams starting with ``prefix``)."""
        with self.store.begin() as db:
            rows = db.execute(sa.text("SELECT stream, position FROM weir_stream_positions"))
            return {stream: position for stream, position in rows if stream.startswith(prefix)}

    def finish(self, batch_id: str, status: BatchStatus, error: str | None = None) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_batches SET status = :s, finished_at = :f, error = :e "
                    "WHERE batch_id = :b AND status = 'pending'"
                ),
                {"s": status, "f": time.time(), "e": error, "b": batch_id},
            )

    def version(self) -> tuple[object, ...]:
        """What changes whenever a batch starts, commits or fails, or retention expires rows."""
        with self.store.begin() as db:
            row = db.execute(
                sa.text(
                    "SELECT count(*), max(started_at), max(finished_at), "
                    "(SELECT count(*) FROM weir_expired_rows) FROM weir_batches"
                )
            ).one()
        return tuple(row)

    def pending(self) -> list[str]:
        with self.store.begin() as db:
            rows = db.execute(sa.text("SELECT batch_id FROM weir_batches WHERE status = 'pending'"))
            return [row[0] for row in rows]

    def known_files(self, source: str) -> dict[str, list[tuple[str, int, int]]]:
        """path → [(checksum, size, mtime_ns)] of the files a committed batch took in."""
        known: dict[str, list[tuple[str, int, int]]] = {}
        with self.store.begin() as db:
            rows = db.execute(
                sa.text("SELECT path, checksum, size, mtime_ns FROM weir_files WHERE source = :s"),
                {"s": source},
            )
            for path, checksum, size, mtime_ns in rows:
                known.setdefault(path, []).append((checksum, size, mtime_ns))
        return known

    def batches(self, source: str | None = None, limit: int | None = None) -> list[BatchRecord]:
        query = "SELECT * FROM weir_batches"
        params: dict[str, object] = {}
        if source is not None:
            query += " WHERE source = :s"
            params["s"] = source
        query += " ORDER BY started_at DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self.store.begin() as db:
            rows = db.execute(sa.text(query), params).mappings().all()
        return [_record(row) for row in rows]

    def record_expired(
        self,
        db: sa.Connection,
        action_id: str,
        source: str,
        layer: str,
        rows: Mapping[tuple[str, str], int],
    ) -> None:
        """Note, in the caller's transaction, the rows a retention action took out of a layer:
        (batch id, fate) → rows. The batch's counts then still reconcile (``reconcile``)."""
        if rows:
            db.execute(
                sa.text(
                    "INSERT INTO weir_expired_rows (action_id, batch_id, source, layer, status, row_count) "
                    "VALUES (:a, :b, :s, :l, :st, :n)"
                ),
                [
                    {"a": action_id, "b": batch, "s": source, "l": layer, "st": status, "n": n}
                    for (batch, status), n in rows.items()
                ],
            )

    def expired(self, source: str, layer: str) -> dict[tuple[str, str], int]:
        """(batch id, fate) → the rows of ``layer.source`` retention took out of the lake."""
        with self.store.begin() as db:
            found = db.execute(
                sa.text(
                    "SELECT batch_id, status, sum(row_count) FROM weir_expired_rows "
                    "WHERE source = :s AND layer = :l GROUP BY batch_id, status"
                ),
                {"s": source, "l": layer},
            )
            return {(batch, status): int(n) for batch, status, n in found}

    def batch(self, batch_id: str) -> BatchRecord | None:
        with self.store.begin() as db:
            row = (
                db.execute(
                    sa.text("SELECT * FROM weir_batches WHERE batch_id = :b"), {"b": batch_id}
                )
                .mappings()
                .first()
            )
        return _record(row) if row is not None else None


def _record(row: sa.RowMapping) -> BatchRecord:
    return BatchRecord(
        batch_id=row["batch_id"],
        source=row["source"],
        kind=row["kind"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        files=row["files"],
        counts=Counts(
            row["received"],
            row["accepted"],
            row["quarantined"],
            row["duplicates"],
            row["released"],
            row["suppressed"],
        ),
        seconds=row["seconds"],
        snapshots=json.loads(row["snapshots"]) if row["snapshots"] else {},
        error=row["error"],
    )
