"""The tamper-evident audit log: who did what, on which data, allowed or not.

Records are only ever appended. Each carries the hash of the record before it
(``prev_hash``) and its own ``hash``: an HMAC-SHA256 under the project's audit
key (kept in the key store, sealed under the master key) over a canonical JSON
of its fields and ``prev_hash`` (records written before the key store keep
their plain sha256: see ``weir.metadata.chain``). Editing a record breaks its own hash; removing one
leaves a gap in ``seq`` and a ``prev_hash`` that matches nothing; removing the
newest records is caught by the head (seq, hash) kept beside the database in
the state folder (``.weir/audit.head``), which a database-only edit does not
touch.

Appends are serialised: one transaction reads the last record and inserts the
next (``BEGIN IMMEDIATE`` on SQLite, a table lock on PostgreSQL), and ``seq``
is the primary key, so two writers can never both extend the same record.
Appends from threads of one process are group-committed: while one commit
waits for the disk, the records that arrive queue, and the next thread to take
the write lock commits all of them in one transaction (one fsync). Each
``append`` still returns only once its own record is committed.

The SQL of a query record is stored as a template, its literals as rows of
their own (``weir.metadata.literals``), signed one by one: ``erase_literals``
removes a person's values and the chain still verifies, with an ``audit.erase``
record saying which literals went.

With the project's definition (``definition``), the first append after a
definition file changed is preceded, in the same locked step, by a
``config.change`` record naming the files added, changed and removed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # Windows: threads of one process are still ordered by _APPEND_LOCK
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.engine import Connection

from weir.errors import QueryError
from weir.metadata.chain import GENESIS, ChainWalk, literal_mac, record_hash, record_mac
from weir.metadata.definition import ProjectDefinition, operator
from weir.metadata.keys import AUDIT_KEY, KeyStore
from weir.metadata.literals import SplitSql, escape, find_matching, split_sql
from weir.metadata.records import (
    AUDIT_KINDS,
    COLUMNS,
    SQL_KINDS,
    AuditEntry,
    AuditKind,
    AuditRecord,
    clean,
    literal_values,
    params,
    read_record,
    read_records,
)
from weir.metadata.store import MetadataStore

__all__ = [
    "AUDIT_KINDS",
    "GENESIS",
    "HEAD_FILE",
    "AuditEntry",
    "AuditKind",
    "AuditLog",
    "AuditRecord",
    "record_hash",
]

HEAD_FILE = "audit.head"
_CHUNK = 5000  # records read at a time by verify()
# Appends from this process's threads queue here rather than in SQLite's busy loop;
# the database lock still orders appends between processes.
_APPEND_LOCK = threading.Lock()
_APPENDERS = 8  # threads appending for append_soon (appends waiting together commit together)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_seq: int | None  # the newest record in the database
    bad_seq: int | None = None  # the first record altered or removed
    problem: str | None = None
    signed_from: int | None = None  # the first record signed with the audit key

    def __str__(self) -> str:
        if self.ok:
            signed = (
                ""
                if self.signed_from is None or self.signed_from > (self.head_seq or 0)
                else f", signed with the audit key from record {self.signed_from}"
            )
            return f"the audit log is intact: {self.records} records, head {self.head_seq}{signed}"
        return f"the audit log was tampered with: {self.problem}"


@dataclass
class _Waiting:
    """One append queued for the write lock, and once committed its record (or the error)."""

    entry: AuditEntry
    files: dict[str, str] | None  # the project's definition when it was appended
    record: AuditRecord | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class Recording:
    """Filled in by the block an ``AuditLog.recording`` wraps."""

    datasets: tuple[str, ...] = ()
    rows: int | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """Appends, lists and verifies the audit records of one project."""

    def __init__(
        self,
        store: MetadataStore,
        head_file: Path,
        definition: ProjectDefinition | None = None,
        keys: KeyStore | None = None,
    ) -> None:
        """``keys``: the project's key store (by default the one in ``store``)."""
        self.store = store
        self.head_file = head_file
        self.definition = definition
        self.keys = keys if keys is not None else KeyStore(store, (head_file.parent,))
        self._recorded: dict[str, str] | None = None  # the definition the log is known to hold
        # appends waiting for the write lock; whoever takes it next commits them all at once
        self._waiting: list[_Waiting] = []
        self._waiting_lock = threading.Lock()
        # the threads of append_soon, and the process they belong to
        self._appenders: tuple[int, ThreadPoolExecutor] | None = None

    # -- writing -------------------------------------------------------------------
    def append(self, entry: AuditEntry) -> AuditRecord:
        """Append ``entry``; it is committed (on disk) when this returns.

        The appends queued meanwhile by other threads go in the same transaction.
        """
        files = self.definition.files() if self.definition is not None else None
        key = self._key()
        waiting = _Waiting(entry, files)
        with self._waiting_lock:
            self._waiting.append(waiting)
        with _APPEND_LOCK:
            if not waiting.done:  # no other thread committed it while this one waited
                with self._waiting_lock:
                    group, self._waiting = self._waiting, []
                self._commit(group, key)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.record is not None
        return waiting.record

    def append_soon(self, entry: AuditEntry) -> Future[AuditRecord]:
        """Start appending ``entry`` in an audit thread; the future is done once it is committed.

        For a caller with work to do meanwhile (writing an answer while the
        record's commit waits for the disk): it must wait for the future before
        the answer leaves. Appends started together are group-committed.
        """
        with self._waiting_lock:
            if self._appenders is None or self._appenders[0] != os.getpid():  # none, or forked
                threads = ThreadPoolExecutor(_APPENDERS, thread_name_prefix="weir-audit")
                self._appenders = (os.getpid(), threads)
            appenders = self._appenders[1]
        return appenders.submit(self.append, entry)

    def _commit(self, group: list[_Waiting], key: bytes) -> None:
        """Insert the records of ``group`` in one transaction; the caller holds the write lock."""
        try:
            recorded, records = self._recorded, []
            with self._locked() as db:
                for waiting in group:
                    if waiting.files is not None and waiting.files != recorded:
                        change = _definition_change(self._last(db, "config.change"), waiting.files)
                        if change is not None:
                            self._insert(db, change, key)  # the head moves past it below
                    recorded = waiting.files
                    records.append(self._insert(db, waiting.entry, key))
            self._recorded = recorded
            self._advance_head(records[-1])
        except BaseException as exc:
            for waiting in group:
                waiting.error, waiting.done = exc, True
            return
        for waiting, record in zip(group, records, strict=True):
            waiting.record, waiting.done = record, True

    def record_definition(self) -> AuditRecord | None:
        """Append a ``config.change`` record if the definition differs from the last one."""
        if self.definition is None:
            return None
        files = self.definition.files()
        if files == self._recorded:
            return None
        record = self.append_after("config.change", lambda last: _definition_change(last, files))
        self._recorded = files
        return record

    def append_after(
        self, kind: AuditKind, build: Callable[[AuditRecord | None], AuditEntry | None]
    ) -> AuditRecord | None:
        """Append what ``build`` returns, given the newest record of ``kind``, in one locked step.

        ``build`` returning None appends nothing: e.g. a configuration that did not change.
        """
        key = self._key()
        with _APPEND_LOCK:
            with self._locked() as db:
                entry = build(self._last(db, kind))
                if entry is None:
                    return None
                record = self._insert(db, entry, key)
            self._advance_head(record)
            return record

    def _key(self) -> bytes:
        """The audit key, made with the record the keyed chain starts at if the store has none."""
        return self.keys.key(AUDIT_KEY, "audit", meta=_chain_start)

    def _insert(self, db: Connection, entry: AuditEntry, key: bytes) -> AuditRecord:
        """Chain ``entry`` to the newest record; the caller holds the log's write lock."""
        last = db.execute(
            sa.text("SELECT seq, hash FROM weir_audit ORDER BY seq DESC LIMIT 1")
        ).first()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
        cleaned = clean(entry)
        split = (
            split_sql(cleaned.action)
            if cleaned.kind in SQL_KINDS
            else SplitSql(escape(cleaned.action), ())
        )
        macs = tuple(literal_mac(key, seq, i, v) for i, v in enumerate(split.literals))
        unsigned = AuditRecord(seq, round(time.time(), 6), cleaned, prev, "", macs, split.template)
        signed = record_mac(key, unsigned.fields())
        record = AuditRecord(seq, unsigned.at, cleaned, prev, signed, macs, split.template)
        db.execute(
            sa.text(
                f"INSERT INTO weir_audit ({COLUMNS}) VALUES (:seq, :at, :kind, :user_name,"
                " :role, :action, :datasets, :row_count, :duration_ms, :allowed, :reason,"
                " :detail, :prev_hash, :hash, :literals)"
            ),
            params(record),
        )
        if split.literals:
            db.execute(
                sa.text("INSERT INTO weir_audit_literals (seq, idx, value) VALUES (:s, :i, :v)"),
                [{"s": seq, "i": i, "v": v} for i, v in enumerate(split.literals)],
            )
        return record

    @contextmanager
    def recording(
        self, kind: AuditKind, action: str, user: str | None = None, role: str | None = None
    ) -> Iterator[Recording]:
        """Time the block and append one record for it, failed or not (then re-raise)."""
        note = Recording()
        started = time.perf_counter()
        try:
            yield note
        except BaseException as exc:
            reason = getattr(exc, "what", None) or f"{type(exc).__name__}: {exc}"
            self.append(_entry(kind, action, user, role, note, started, False, str(reason)))
            raise
        self.append(_entry(kind, action, user, role, note, started, True, note.reason))

    @contextmanager
    def _locked(self, scrub: bool = False) -> Iterator[Connection]:
        with self.store.engine.connect() as db:
            if db.dialect.name == "sqlite":
                if scrub:  # what is deleted is overwritten, not left in free pages
                    db.exec_driver_sql("PRAGMA secure_delete = ON")
                # take the write lock before reading the last record, not at the insert
                db.exec_driver_sql("BEGIN IMMEDIATE")
            elif db.dialect.name == "postgresql":
                db.execute(sa.text("LOCK TABLE weir_audit IN SHARE ROW EXCLUSIVE MODE"))
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _advance_head(self, record: AuditRecord) -> None:
        """Move the head file forward (never back: another process may be ahead)."""
        self.head_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.head_file.with_suffix(".lock"), "a", encoding="utf-8") as guard:
            if fcntl is not None:  # other processes appending to the same log
                fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
            head = self.head()
            if head is not None and head[0] >= record.seq:
                return
            temporary = self.head_file.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"seq": record.seq, "hash": record.hash}), "utf-8")
            os.replace(temporary, self.head_file)

    # -- reading -------------------------------------------------------------------
    def head(self) -> tuple[int, str] | None:
        try:
            saved = json.loads(self.head_file.read_text("utf-8"))
            return int(saved["seq"]), str(saved["hash"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return (-1, "unreadable")

    def records(
        self,
        kind: str | None = None,
        user: str | None = None,
        allowed: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The newest records first; ``before`` (a seq) pages back through older ones."""
        if kind is not None and kind not in AUDIT_KINDS:
            raise QueryError(f"unknown audit kind {kind}", f"use one of {', '.join(AUDIT_KINDS)}")
        where, params = ["1 = 1"], {"limit": max(0, int(limit))}
        for name, value, test in (
            ("kind", kind, "kind = :kind"),
            ("user_name", user, "user_name = :user_name"),
            ("allowed", allowed, "allowed = :allowed"),
            ("before", before, "seq < :before"),
        ):
            if value is not None:
                where.append(test)
                params[name] = value  # type: ignore[assignment]
        query = (
            f"SELECT {COLUMNS} FROM weir_audit WHERE {' AND '.join(where)}"
            " ORDER BY seq DESC LIMIT :limit"
        )
        with self.store.begin() as db:
            return read_records(db, db.execute(sa.text(query), params).all())

    def last(self, kind: AuditKind) -> AuditRecord | None:
        with self.store.begin() as db:
            return self._last(db, kind)

    @staticmethod
    def _last(db: Connection, kind: str) -> AuditRecord | None:
        row = db.execute(
            sa.text(
                f"SELECT {COLUMNS} FROM weir_audit WHERE kind = :kind ORDER BY seq DESC LIMIT 1"
            ),
            {"kind": kind},
        ).first()
        return read_records(db, [row])[0] if row is not None else None

    # -- checking ------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Walk the chain from the first record; name the first one altered or removed."""
        head = self.head()
        audit_key = self.keys.find(AUDIT_KEY)
        walk = ChainWalk(
            None if audit_key is None else audit_key[0],
            None if audit_key is None else int(audit_key[1].meta["chain_from"]),
        )
        expected, count, at_head = 1, 0, None
        for record, values in self._all():
            if record.seq != expected:
                missing = (
                    f"record {expected}"
                    if record.seq == expected + 1
                    else f"records {expected} to {record.seq - 1}"
                )
                return self._bad(
                    count, expected, f"{missing} was removed (a gap before {record.seq})"
                )
            problem = walk.check(record, values)
            if problem is not None:
                altered = record.seq - 1 if problem.startswith(f"record {record.seq - 1} ") else 0
                return self._bad(count, max(1, altered or record.seq), problem)
            if head is not None and record.seq == head[0]:
                at_head = record.hash
            expected, count = expected + 1, count + 1
        lost = walk.unaccounted()
        if lost is not None:
            return self._bad(
                count,
                lost[0],
                f"record {lost[0]} was altered (its literal {lost[1]} was removed, "
                "and no erasure on the record says so)",
            )
        newest = expected - 1 if count else None
        if head is None:
            if count:
                return self._bad(
                    count,
                    newest,
                    f"the head file {self.head_file} is missing: the newest records cannot be checked",
                )
        elif head[0] < 0:
            return self._bad(count, newest, f"the head file {self.head_file} is unreadable")
        elif newest is None or head[0] > newest:
            first = (newest or 0) + 1
            span = f"record {first}" if first == head[0] else f"records {first} to {head[0]}"
            return self._bad(
                count, first, f"{span} removed from the end (the head file names record {head[0]})"
            )
        elif head[1] != at_head:
            # the chain holds, yet the record the head file names is another: rewritten from there
            return self._bad(
                count, head[0], f"record {head[0]} was replaced (the head file differs)"
            )
        return VerifyResult(True, count, newest, signed_from=walk.chain_from)

    # -- erasing -------------------------------------------------------------------
    def find_literals(self, values: Collection[str]) -> int:
        """How many literals of audited SQL hold one of ``values`` (case-insensitively)."""
        return len(self._matching(values))

    def erase_literals(self, values: Collection[str]) -> int:
        """Remove every literal of audited SQL holding one of ``values``; returns how many.

        The rows go with SQLite's ``secure_delete``, then the file is rewritten and its
        write-ahead log emptied (``MetadataStore.scrub``), so the text leaves the database
        files; an ``audit.erase`` record names the literals removed (by record and place,
        never by value), and the chain still verifies.
        """
        found = self._matching(values)
        after = max((seq for seq, _ in found), default=0)
        key = self._key()
        with _APPEND_LOCK:
            with self._locked(scrub=True) as db:
                # and in what was appended since the first pass
                found = sorted({*found, *find_matching(db, values, after)})
                record = self._erase(db, found, key) if found else None
            if record is not None:
                self._advance_head(record)
        # even with nothing found: an erasure killed after its commit is finished by a retry
        self.store.scrub()
        return len(found)

    def _erase(self, db: Connection, found: list[tuple[int, int]], key: bytes) -> AuditRecord:
        db.execute(
            sa.text("DELETE FROM weir_audit_literals WHERE seq = :s AND idx = :i"),
            [{"s": seq, "i": index} for seq, index in found],
        )
        records = len({seq for seq, _ in found})
        return self._insert(
            db,
            AuditEntry(
                "audit.erase",
                f"erase {len(found)} literals from {records} records",
                operator(),
                rows=len(found),
                detail={"erased": [list(pair) for pair in found]},
            ),
            key,
        )

    def _matching(self, values: Collection[str]) -> list[tuple[int, int]]:
        with self.store.begin() as db:
            return find_matching(db, values, 0)

    def _bad(self, count: int, seq: int | None, problem: str) -> VerifyResult:
        return VerifyResult(False, count, None, seq, problem)

    def _all(self) -> Iterator[tuple[AuditRecord, dict[int, str]]]:
        """Every record, oldest first, with the literals still stored."""
        after = 0
        while True:
            with self.store.begin() as db:
                rows = db.execute(
                    sa.text(
                        f"SELECT {COLUMNS} FROM weir_audit WHERE seq > :after ORDER BY seq LIMIT :n"
                    ),
                    {"after": after, "n": _CHUNK},
                ).all()
                if not rows:
                    return
                values = literal_values(db, (), (int(rows[0][0]), int(rows[-1][0])))
            for row in rows:
                yield read_record(row, values.get(int(row[0]), {})), values.get(int(row[0]), {})
            after = int(rows[-1][0])


def _chain_start(db: Connection) -> dict[str, Any]:
    """The audit key's meta, in the transaction that makes it: the keyed chain starts next."""
    if db.dialect.name == "postgresql":  # no record is appended until the key is made
        db.execute(sa.text("LOCK TABLE weir_audit IN SHARE ROW EXCLUSIVE MODE"))
    last = db.execute(sa.text("SELECT max(seq) FROM weir_audit")).scalar()
    return {"chain_from": int(last or 0) + 1}


def _definition_change(last: AuditRecord | None, files: dict[str, str]) -> AuditEntry | None:
    """The ``config.change`` entry from the last recorded definition to ``files`` (None: the same)."""
    before: dict[str, str] = dict((last.entry.detail or {}).get("files", {})) if last else {}
    if before == files and last is not None:
        return None
    added = sorted(set(files) - set(before))
    removed = sorted(set(before) - set(files))
    edited = sorted(p for p in set(files) & set(before) if files[p] != before[p])
    parts = [
        f"{label}: {', '.join(paths)}"
        for label, paths in (("added", added), ("changed", edited), ("removed", removed))
        if paths
    ]
    return AuditEntry(
        "config.change",
        "; ".join(parts) or "no files",
        user=operator(),
        datasets=(),
        rows=len(files),
        detail={"files": files, "added": added, "changed": edited, "removed": removed},
    )


def _entry(
    kind: AuditKind,
    action: str,
    user: str | None,
    role: str | None,
    note: Recording,
    started: float,
    allowed: bool,
    reason: str | None,
) -> AuditEntry:
    return AuditEntry(
        kind,
        action,
        user,
        role,
        note.datasets,
        note.rows,
        (time.perf_counter() - started) * 1000,
        allowed,
        reason,
        note.detail,
    )
