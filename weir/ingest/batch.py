"""Batch ingestion: new files of a source → raw, quarantine and staging, as one batch.

The flow of one batch: find the source's new files; read them into one text
table (``readers``); protect card data (``pci``); apply the contract
(``contract``); decide each record's fate — quarantined (with every reason),
duplicate (by key, within the batch and against staging), or accepted; write
the three lake tables, each snapshot tagged with the batch; then mark the
batch committed in the ledger together with its files. A record about an
erased data subject (its identifier's keyed hash is in the erasure registry)
is suppressed: counted, and written nowhere. Counts reconcile:
``received = accepted + quarantined + duplicates + suppressed``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from weir.engine import Session, ident, lit
from weir.errors import WeirError
from weir.ingest.accounting import account_for_files
from weir.ingest.contract import DUCKDB_TYPES, Contract
from weir.ingest.database import land, load_extract
from weir.ingest.files import new_files
from weir.ingest.ledger import BatchKind, Counts, FileEntry, Ledger, new_batch_id
from weir.ingest.pci import PaymentTokenizer, redact_cards_in_table
from weir.ingest.readers import (
    REMAPPABLE,
    json_split_sql,
    load_events,
    load_files,
    records_columns,
)
from weir.ingest.rest import fetch_and_land, position_key
from weir.lake import Lake, Layer, TableWrite, opened_scan
from weir.lake.catalog import files_property
from weir.lake.filters import at_least, one_of
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.metadata.erasures import ErasureRegistry
from weir.project import ProjectFiles, SourceConfig

Progress = Callable[[str, str], None]
META_RAW = ("_raw", "_problem", "_source_file", "_offset")


@dataclass(frozen=True)
class BatchResult:
    """What one ingest or replay of a source did."""

    source: str
    batch_id: str | None
    files: int
    counts: Counts
    seconds: float
    skipped_files: int = 0


class Ingestor:
    """Ingests a project's batch sources into its lake. One writer per project."""

    def __init__(
        self,
        project: ProjectFiles,
        lake: Lake,
        ledger: Ledger,
        tokenizer: PaymentTokenizer,
        progress: Progress | None = None,
        audit: AuditLog | None = None,
        erasures: ErasureRegistry | None = None,
    ) -> None:
        self.project = project
        self.erasures = erasures
        self.lake = lake
        self.ledger = ledger
        self.tokenizer = tokenizer
        self.progress = progress or (lambda source, stage: None)
        self.audit = audit  # every committed batch, whatever its door, gets one record

    # -- public -------------------------------------------------------------------
    def ingest(
        self, source_name: str, paths: Sequence[Path] | None = None, wait: float = 0.0
    ) -> BatchResult:
        """Take in the source's new files as one batch (waiting up to ``wait`` s for the lake)."""
        source = self.project.source(source_name)
        # a REST extract is fetched before the lake's write lock is taken: a slow API must not
        # hold up the other writers (a stream's flush waits for the lock only so long)
        positions = self._extract(source) if source.format == "rest" and not paths else None
        with self.writing(wait):
            started = time.time()
            if source.format == "database":
                if paths:
                    raise WeirError(
                        f"source {source.name} reads a database table, not files",
                        f"run `weir ingest {source.name}` without --path",
                    )
                # the extract lands as a file; its cursor commits with the batch
                landed = land(self.project, source, self.ledger, self.lake, self.tokenizer)
                files, skipped = ([landed.file] if landed.file else []), 0
                positions = landed.positions or None
            else:
                files, skipped = self.discover(source, paths)
            if not files:
                return BatchResult(source.name, None, 0, Counts(), time.time() - started, skipped)
            self.progress(source.name, f"reading {len(files)} file(s)")
            con = self.lake.engine.writer()
            try:
                paths = [self.project.root / f.path for f in files]
                if source.format == "database":
                    # weir's own extract: its card columns are tokens already, sealed or not
                    table = load_extract(con, source, paths, self.lake.engine.at_rest)
                else:
                    table = load_files(con, source, paths, self._protect(source))
                files = account_for_files(con, source, table, self.project.root, files)
                self._protect_text(con, source, table)
                root = str(self.project.root) + "/"
                relation = f"(SELECT * REPLACE (replace(_source_file, {lit(root)}, '') AS _source_file), rowid AS _seq FROM {table})"
                result = self._decide_and_commit(
                    con, source, relation, files, started, "ingest", positions
                )
            finally:
                con.close()
            if source.format == "database":
                # raw holds every record now: the extract's file goes, so no copy of a
                # person's data stays outside the lake (an erasure reaches the lake)
                (self.project.root / files[0].path).unlink(missing_ok=True)
            return result

    def ingest_events(
        self,
        source_name: str,
        events: pa.Table,
        positions: Mapping[str, str],
        wait: float = 30.0,
        dedupe_since: float | None = None,
        checked_at: float | None = None,
    ) -> BatchResult:
        """Ingest events from a stream as one batch, through the same contract as files.

        ``events`` has ``_raw`` (the event's JSON text), ``_source_file`` (the
        stream it came from) and ``_offset`` (its position there). ``positions``
        (stream → position, e.g. a log offset or a Kafka offset) are recorded in
        the same metadata transaction that commits the batch, so a consumer that
        restarts resumes after exactly what is in the lake (``Ledger.positions``).

        ``dedupe_since`` (epoch seconds) limits the duplicate check to staging
        rows whose time column is at least that (only those day partitions are
        read), so a stream's flush does not grow with all history. ``checked_at``
        is the clock of the contract's ``not_future`` check (default: now), so a
        collector's flush judges exactly as its receipts did.
        """
        source = self.project.source(source_name)
        with self.writing(wait):
            started = time.time()
            if events.num_rows == 0:
                return BatchResult(source.name, None, 0, Counts(), time.time() - started)
            con = self.lake.engine.writer()
            try:
                table = self.load_protected(con, source, events)
                relation = f"(SELECT *, rowid AS _seq FROM {table})"
                return self._decide_and_commit(
                    con,
                    source,
                    relation,
                    [],
                    started,
                    "stream",
                    positions,
                    dedupe_since=dedupe_since,
                    checked_at=checked_at,
                )
            finally:
                con.close()

    def load_protected(self, con: Session, source: SourceConfig, events: pa.Table) -> str:
        """Stream events as the text table the contract checks, card data protected.

        Events whose table carries ``<card column>_last4`` columns were protected
        at the door (the collector): their card fields are tokens already and
        stay as they are, their last four digits come from those columns (keyed
        by ``_source_file`` and ``_offset``).
        """
        door = [f"{c.name}_last4" for c in source.columns if c.classification == "pci"]
        protected = bool(door) and all(name in events.column_names for name in door)
        if not protected:
            table = load_events(con, source, events, self._protect(source))
            self._protect_text(con, source, table)
            return table
        table = load_events(con, source, events.drop_columns(door))
        con.register("weir_door", events.select(["_source_file", "_offset", *door]))
        try:
            assigned = ", ".join(f"{ident(name)} = weir_door.{ident(name)}" for name in door)
            con.execute(
                f"UPDATE {table} SET {assigned} FROM weir_door WHERE {table}._source_file = "
                f"weir_door._source_file AND {table}._offset = weir_door._offset"
            )
        finally:
            con.unregister("weir_door")
        self._protect_text(con, source, table, tokenise_raw=False)
        return table

    def replay(self, source_name: str) -> BatchResult:
        """Check quarantined records against the current contract; move those that pass."""
        source = self.project.source(source_name)
        with self.writing():
            started = time.time()
            if not self.lake.exists("quarantine", source.name):
                return BatchResult(source.name, None, 0, Counts(), time.time() - started)
            con = self.lake.engine.writer()
            try:
                files = self.lake.data_files(
                    "quarantine", source.name, self.lake.snapshot_for("quarantine", source.name)
                )
                if not files:
                    return BatchResult(source.name, None, 0, Counts(), time.time() - started)
                held = _load_held(
                    con, source, opened_scan(self.lake, con, "quarantine", source.name, files)
                )
                self.progress(source.name, f"replaying {held} record(s)")
                relation = "(SELECT *, rowid AS _seq FROM weir_held)"
                return self._decide_and_commit(con, source, relation, [], started, "replay")
            finally:
                con.close()

    def recover(self, wait: float = 0.0) -> list[str]:
        """Roll back every batch a crash left half-written; returns their ids."""
        with self.writing(wait):
            pending = self.ledger.pending()
            for batch_id in pending:
                self.lake.rollback_batch(batch_id)
                self.ledger.finish(
                    batch_id, "aborted", "interrupted before it committed; rolled back"
                )
            return pending

    def _extract(self, source: SourceConfig) -> dict[str, str] | None:
        """A REST source's pages since its committed cursor, landed; the cursor to commit."""
        key = position_key(source)
        return fetch_and_land(self.project.root, source, self.ledger.positions(key).get(key))

    def discover(
        self, source: SourceConfig, paths: Sequence[Path] | None = None
    ) -> tuple[list[FileEntry], int]:
        """The source's files not yet taken in (by path and checksum); and how many were skipped."""
        return new_files(self.project.root, source, self.ledger, paths)

    def writing(self, wait: float = 0.0) -> AbstractContextManager[None]:
        """Hold the lake's write lock: one writer at a time (waiting up to ``wait`` s)."""
        return self.lake.writing(wait)

    # -- steps ----------------------------------------------------------------------
    def _protect(self, source: SourceConfig) -> Callable[[str], str]:
        """Card columns become tokens while the records are read."""
        return self.tokenizer.protect_sql(
            [c.name for c in source.columns if c.classification == "pci"]
        )

    def _protect_text(
        self,
        con: Session,
        source: SourceConfig,
        table: str,
        tokenise_raw: bool = True,
    ) -> None:
        """Card numbers in kept JSON text and free-text fields are tokenised or redacted."""
        if tokenise_raw:
            self.tokenizer.tokenise_raw_json(
                con, table, [c.name for c in source.columns if c.classification == "pci"]
            )
        free_text = [
            c.name for c in source.columns if c.type == "string" and c.classification == "pii"
        ]
        redact_cards_in_table(con, table, [*free_text, "_raw"])

    def _decide_and_commit(
        self,
        con: Session,
        source: SourceConfig,
        relation: str,
        files: list[FileEntry],
        started: float,
        kind: BatchKind,
        positions: Mapping[str, str] | None = None,
        dedupe_since: float | None = None,
        checked_at: float | None = None,
    ) -> BatchResult:
        batch_id = new_batch_id(source.name)
        contract = Contract(source)
        carry = HELD_CARRY if kind == "replay" else ()
        self.progress(source.name, "checking")
        stored = self._stored_keys_sql(contract, source, dedupe_since)
        now = started if checked_at is None else checked_at
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE decided AS
            WITH checked AS ({contract.checked_sql(relation, now, carry)}),
            valid AS (SELECT _seq, {contract.key_sql()} AS _key FROM checked WHERE len(_reasons) = 0),
            firsts AS (SELECT _key, min(_seq) AS _seq FROM valid GROUP BY _key),
            stored AS ({stored}),
            fresh AS (SELECT firsts._seq FROM firsts ANTI JOIN stored ON firsts._key = stored._key)
            SELECT checked.*, CASE
                WHEN len(_reasons) > 0 THEN 'quarantined'
                WHEN fresh._seq IS NOT NULL THEN 'accepted'
                ELSE 'duplicate' END AS _status
            FROM checked LEFT JOIN fresh USING (_seq)"""
        )
        self._suppress_erased(con, source)
        totals = dict(con.execute("SELECT _status, count(*) FROM decided GROUP BY 1").fetchall())
        received = sum(totals.values())
        counts = Counts(
            received=received,
            accepted=totals.get("accepted", 0),
            quarantined=totals.get("quarantined", 0),
            duplicates=totals.get("duplicate", 0),
            released=(received - totals.get("quarantined", 0) - totals.get("suppressed", 0))
            if kind == "replay"
            else 0,
            suppressed=totals.get("suppressed", 0),
        )
        assert counts.reconciles(), counts
        self.ledger.start(batch_id, source.name, kind, started)
        properties = {"weir.source": source.name, "weir.kind": kind}
        if positions:
            properties["weir.positions"] = json.dumps(dict(positions), sort_keys=True)
        if files:
            properties["weir.files"] = files_property((f.path, f.checksum) for f in files)
        try:
            self.progress(source.name, "writing")
            writes = self._writes(con, source, batch_id, started, kind, totals)
            self.progress(source.name, "committing")
            snapshots = self.lake.commit(batch_id, writes, properties, on_committed=_crash_point)
            _crash_point("ledger")
        except BaseException as exc:
            # best effort now; `recover` finishes the job if this process cannot
            self.lake.rollback_batch(batch_id)
            self.ledger.finish(batch_id, "failed", f"{type(exc).__name__}: {exc}")
            if isinstance(exc, WeirError | KeyboardInterrupt):
                raise
            raise WeirError(
                f"batch {batch_id} of {source.name} failed and was rolled back: {exc}",
                "fix the cause and run the command again; nothing of this batch was kept",
            ) from exc
        seconds = time.time() - started
        self.ledger.commit(batch_id, source.name, files, counts, snapshots, seconds, positions)
        result = BatchResult(source.name, batch_id, len(files), counts, seconds)
        if self.audit is not None:
            self.audit.append(_batch_entry(result, kind, sorted(snapshots), positions))
        return result

    def _suppress_erased(self, con: Session, source: SourceConfig) -> None:
        """Records naming an erased data subject become ``suppressed``: counted, stored nowhere."""
        if self.erasures is None:
            return
        for subject, config in self.project.config.privacy.subjects.items():
            column = config.sources.get(source.name)
            if column is None:
                continue
            text = ident(column + "__text")
            values = [v for (v,) in con.execute(f"SELECT DISTINCT {text} FROM decided").fetchall()]
            erased = sorted(self.erasures.suppressed_in(subject, values))
            if erased:
                listed = ", ".join(lit(value) for value in erased)
                con.execute(f"UPDATE decided SET _status = 'suppressed' WHERE {text} IN ({listed})")

    def _stored_keys_sql(
        self, contract: Contract, source: SourceConfig, since: float | None = None
    ) -> str:
        scan = self._staging_since(source, since)
        if scan is None:
            return "SELECT NULL::VARCHAR AS _key WHERE false"
        return f"SELECT {contract.key_sql()} AS _key FROM {scan}"

    def _staging_since(self, source: SourceConfig, since: float | None) -> str | None:
        """SQL reading staging's rows (only those whose time is at least ``since``), or None."""
        if not self.lake.exists("staging", source.name):
            return None
        snapshot = self.lake.snapshot_for("staging", source.name)
        window = None
        if since is not None and source.time_column is not None:
            # Iceberg prunes the day partitions (and files by their column bounds) before the rows
            start = datetime.fromtimestamp(since, UTC).isoformat()
            window = at_least(source.time_column, start)
        files = self.lake.data_files("staging", source.name, snapshot, window)
        if not files:
            return None
        if window is None:
            return self.lake.engine.scan(files)
        column = ident(source.time_column or "")
        return f"(SELECT * FROM {self.lake.engine.scan(files)} WHERE {column} >= to_timestamp({since!r}))"

    def recent_keys(self, source: SourceConfig, since: float | None) -> dict[str, float]:
        """Staging's keys (of rows whose time is at least ``since``) → their newest event time."""
        scan = self._staging_since(source, since)
        if scan is None:
            return {}
        moment = (
            f"max(epoch({ident(source.time_column)}))"
            if source.time_column
            else "-'Infinity'::DOUBLE"
        )
        con = self.lake.engine.writer()
        try:
            rows = con.execute(
                f"SELECT {Contract(source).key_sql()} AS _key, {moment} FROM {scan} GROUP BY 1"
            ).fetchall()
        finally:
            con.close()
        return {key: float("-inf") if moment is None else moment for key, moment in rows}

    def _writes(
        self,
        con: Session,
        source: SourceConfig,
        batch_id: str,
        started: float,
        kind: BatchKind,
        totals: dict[str, int],
    ) -> list[TableWrite]:
        text = ", ".join(f"{ident(c.name + '__text')} AS {ident(c.name)}" for c in source.columns)
        last4 = "".join(
            f", {ident(c.name + '_last4')}" for c in source.columns if c.classification == "pci"
        )
        ids = (
            f"'{batch_id}' AS _batch_id, '{batch_id}:' || _seq AS _record_id, to_timestamp({started!r}) AS _received_at"
            if kind != "replay"
            else f"'{batch_id}' AS _batch_id, _record_id, _received_at"
        )
        typed = ", ".join(
            f"CAST({ident(c.name)} AS {DUCKDB_TYPES[c.type]}) AS {ident(c.name)}"
            for c in source.columns
        )
        extract = ", _extract_date" if source.kind == "entity" else ""
        planned: list[tuple[Layer, int, str, str | None]] = []
        if kind != "replay":
            planned.append(
                (
                    "raw",
                    sum(totals.values()) - totals.get("suppressed", 0),
                    f"SELECT {text}{last4}, _raw, _problem, _source_file, _offset, {ids}, _status "
                    "FROM decided WHERE _status <> 'suppressed'",
                    None,
                )
            )
            planned.append(
                (
                    "quarantine",
                    totals.get("quarantined", 0),
                    f"SELECT {text}{last4}, _raw, _problem, _reasons, _source_file, _offset, {ids} "
                    "FROM decided WHERE _status = 'quarantined'",
                    None,
                )
            )
        planned.append(
            (
                "staging",
                totals.get("accepted", 0),
                f"SELECT {typed}{last4}{extract}, _source_file, {ids} FROM decided WHERE _status = 'accepted'",
                source.time_column if source.partition_by_day else None,
            )
        )
        # every table of the source exists before any file is written: a crash in between
        # leaves no half-created set of tables behind
        for layer, _, select, day_of in planned:
            self.lake.ensure(layer, source.name, con.lake_schema(select), day_of)
        writes = [
            self.lake.write_parquet(con, layer, source.name, select, batch_id, day_of, rows)
            for layer, rows, select, day_of in planned
        ]
        if kind == "replay":
            # released records leave quarantine; those that stay carry the current contract's reasons
            changed = "_status = 'quarantined' AND _reasons IS DISTINCT FROM _held_reasons"
            gone = con.execute(
                f"SELECT _record_id, ({changed}) AS rewritten FROM decided WHERE _status <> 'quarantined' OR ({changed})"
            ).fetchall()
            if gone:
                rewritten = self.lake.write_parquet(
                    con,
                    "quarantine",
                    source.name,
                    f"SELECT {text}{last4}, _raw, _problem, _reasons, _source_file, _offset, "
                    f"_held_batch AS _batch_id, _record_id, _received_at FROM decided WHERE {changed}",
                    batch_id,
                    None,
                    sum(1 for _, again in gone if again),
                )
                delete = one_of("_record_id", [record_id for record_id, _ in gone])
                writes.append(
                    TableWrite("quarantine", source.name, files=rewritten.files, delete=delete)
                )
        return writes


HELD_CARRY = ("_record_id", "_received_at", "_held_reasons", "_held_batch")


def _load_held(con: Session, source: SourceConfig, scan: str) -> int:
    """Quarantined records as ``weir_held``, in the shape of the current contract.

    A field the contract gained since is null; a record kept whole as JSON
    (an unknown field, a file whose header did not match) is mapped again onto
    the current fields, so a contract fix can release it.
    """
    present = {name for name, _ in con.columns(f"SELECT * FROM {scan}")}
    columns = ", ".join(
        ident(name) if name in present else f"NULL::{kind} AS {ident(name)}"
        for name, kind in records_columns(source)
    )
    con.execute(
        f"CREATE TEMP TABLE weir_stored AS SELECT {columns}, _record_id, _received_at, "
        f"_reasons AS _held_reasons, _batch_id AS _held_batch FROM {scan}"
    )
    remappable = " OR ".join(f"starts_with(_problem, {lit(prefix)})" for prefix in REMAPPABLE)
    last4 = [f"{c.name}_last4" for c in source.columns if c.classification == "pci"]
    split, params = json_split_sql(
        source,
        f"SELECT *, starts_with(_problem, {lit(REMAPPABLE[1])}) AS _whole_header FROM weir_stored WHERE {remappable}",
        carry=[*last4, *HELD_CARRY],
        whole_header="_whole_header",
    )
    con.execute(
        f"CREATE TEMP TABLE weir_held AS SELECT * FROM weir_stored WHERE NOT coalesce({remappable}, false) "
        f"UNION ALL BY NAME SELECT * FROM ({split})",
        params,
    )
    count = con.execute("SELECT count(*) FROM weir_held").fetchone()
    return int(count[0]) if count else 0


def _batch_entry(
    result: BatchResult,
    kind: BatchKind,
    tables: list[str],
    positions: Mapping[str, str] | None,
) -> AuditEntry:
    """The audit record of one committed batch (a file ingest, a replay, a stream's flush)."""
    counts = result.counts
    return AuditEntry(
        "batch",
        f"batch {result.source} ({kind})",
        user=operator(),
        datasets=tuple(tables),
        rows=counts.received,
        duration_ms=result.seconds * 1000,
        detail={
            "batch": result.batch_id,
            "kind": kind,
            "files": result.files,
            "received": counts.received,
            "accepted": counts.accepted,
            "quarantined": counts.quarantined,
            "duplicates": counts.duplicates,
            "released": counts.released,
            "suppressed": counts.suppressed,
            "positions": dict(positions or {}),
        },
    )


def _crash_point(name: str) -> None:
    """A test hook: WEIR_CRASH_AT=<table>|ledger kills the process right after that step."""
    if os.environ.get("WEIR_CRASH_AT") == name:
        os._exit(137)
