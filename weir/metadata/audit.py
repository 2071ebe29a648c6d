"""The tamper-evident audit log: who did what, on which data, allowed or not.

Records are only ever appended. Each carries the hash of the record before it
(``prev_hash``) and its own ``hash``: sha256 over a canonical JSON of its
fields and ``prev_hash``. Editing a record breaks its own hash; removing one
leaves a gap in ``seq`` and a ``prev_hash`` that matches nothing; removing the
newest records is caught by the head (seq, hash) kept beside the database in
the state folder (``.weir/audit.head``), which a database-only edit does not
touch.

Appends are serialised: one transaction reads the last record and inserts the
next (``BEGIN IMMEDIATE`` on SQLite, a table lock on PostgreSQL), and ``seq``
is the primary key, so two writers can never both extend the same record.

With the project's definition (``definition``), the first append after a
definition file changed is preceded, in the same locked step, by a
``config.change`` record naming the files added, changed and removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args, overload

import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # Windows: threads of one process are still ordered by _APPEND_LOCK
    fcntl = None  # type: ignore[assignment]
from sqlalchemy.engine import Connection

from weir.errors import QueryError
from weir.metadata.definition import ProjectDefinition, operator
from weir.metadata.store import MetadataStore

AuditKind = Literal[
    "query",
    "kpi",
    "token.create",
    "token.revoke",
    "run",
    "ingest",
    "batch",
    "config.change",
    "flag.add",
    "flag.remove",
    "quality.run",
    "schedule.change",
    "signin",
    "signout",
    "password.set",
]
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
GENESIS = "0" * 64  # the prev_hash of the first record
HEAD_FILE = "audit.head"
_CHUNK = 5000  # records read at a time by verify()
# Appends from this process's threads queue here rather than in SQLite's busy loop;
# the database lock still orders appends between processes.
_APPEND_LOCK = threading.Lock()

_COLUMNS = (
    "seq, at, kind, user_name, role, action, datasets, row_count, duration_ms, "
    "allowed, reason, detail, prev_hash, hash"
)


@dataclass(frozen=True)
class AuditEntry:
    """What happened: the part of a record the caller decides."""

    kind: AuditKind
    action: str
    user: str | None = None
    role: str | None = None
    datasets: tuple[str, ...] = ()
    rows: int | None = None
    duration_ms: float | None = None
    allowed: bool = True
    reason: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditRecord:
    """An entry as stored: with its place in the chain."""

    seq: int
    at: float  # epoch seconds
    entry: AuditEntry
    prev_hash: str
    hash: str

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def fields(self) -> dict[str, Any]:
        """The hashed fields, in the form the hash is computed over."""
        e = self.entry
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": e.kind,
            "user": e.user,
            "role": e.role,
            "action": e.action,
            "datasets": list(e.datasets),
            "rows": e.rows,
            "duration_ms": e.duration_ms,
            "allowed": e.allowed,
            "reason": e.reason,
            "detail": e.detail,
            "prev_hash": self.prev_hash,
        }

    def as_row(self) -> dict[str, Any]:
        """A flat, JSON-ready view (CLI, API)."""
        plain = self.fields()
        plain["at"] = self.when.isoformat(timespec="milliseconds")
        plain["hash"] = self.hash
        return plain


def record_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_seq: int | None  # the newest record in the database
    bad_seq: int | None = None  # the first record altered or removed
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"the audit log is intact: {self.records} records, head {self.head_seq}"
        return f"the audit log was tampered with: {self.problem}"


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
        self, store: MetadataStore, head_file: Path, definition: ProjectDefinition | None = None
    ) -> None:
        self.store = store
        self.head_file = head_file
        self.definition = definition
        self._recorded: dict[str, str] | None = None  # the definition the log is known to hold

    # -- writing -------------------------------------------------------------------
    def append(self, entry: AuditEntry) -> AuditRecord:
        files = self.definition.files() if self.definition is not None else None
        with _APPEND_LOCK:
            with self._locked() as db:
                if files is not None and files != self._recorded:
                    change = _definition_change(self._last(db, "config.change"), files)
                    if change is not None:
                        self._insert(db, change)  # the head moves past both below
                record = self._insert(db, entry)
            self._recorded = files
            self._advance_head(record)
            return record

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
        with _APPEND_LOCK:
            with self._locked() as db:
                entry = build(self._last(db, kind))
                if entry is None:
                    return None
                record = self._insert(db, entry)
            self._advance_head(record)
            return record

    def _insert(self, db: Connection, entry: AuditEntry) -> AuditRecord:
        """Chain ``entry`` to the newest record; the caller holds the log's write lock."""
        last = db.execute(
            sa.text("SELECT seq, hash FROM weir_audit ORDER BY seq DESC LIMIT 1")
        ).first()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
        unsigned = AuditRecord(seq, round(time.time(), 6), _clean(entry), prev, "")
        record = AuditRecord(seq, unsigned.at, unsigned.entry, prev, record_hash(unsigned.fields()))
        db.execute(
            sa.text(
                f"INSERT INTO weir_audit ({_COLUMNS}) VALUES (:seq, :at, :kind, :user_name,"
                " :role, :action, :datasets, :row_count, :duration_ms, :allowed, :reason,"
                " :detail, :prev_hash, :hash)"
            ),
            _params(record),
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
    def _locked(self) -> Iterator[Connection]:
        with self.store.engine.connect() as db:
            if db.dialect.name == "sqlite":
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
            f"SELECT {_COLUMNS} FROM weir_audit WHERE {' AND '.join(where)}"
            " ORDER BY seq DESC LIMIT :limit"
        )
        with self.store.begin() as db:
            return [_record(row) for row in db.execute(sa.text(query), params)]

    def last(self, kind: AuditKind) -> AuditRecord | None:
        with self.store.begin() as db:
            return self._last(db, kind)

    @staticmethod
    def _last(db: Connection, kind: str) -> AuditRecord | None:
        row = db.execute(
            sa.text(
                f"SELECT {_COLUMNS} FROM weir_audit WHERE kind = :kind ORDER BY seq DESC LIMIT 1"
            ),
            {"kind": kind},
        ).first()
        return _record(row) if row is not None else None

    # -- checking ------------------------------------------------------------------
    def verify(self) -> VerifyResult:
        """Walk the chain from the first record; name the first one altered or removed."""
        head = self.head()
        expected, prev, count, at_head = 1, GENESIS, 0, None
        for record in self._all():
            if record.seq != expected:
                missing = (
                    f"record {expected}"
                    if record.seq == expected + 1
                    else f"records {expected} to {record.seq - 1}"
                )
                return self._bad(
                    count, expected, f"{missing} was removed (a gap before {record.seq})"
                )
            if record.prev_hash != prev:
                return self._bad(
                    count,
                    max(1, record.seq - 1),
                    f"record {record.seq - 1} was altered or replaced "
                    f"(record {record.seq} chains to another hash)",
                )
            if record_hash(record.fields()) != record.hash:
                return self._bad(
                    count, record.seq, f"record {record.seq} was altered (its hash does not match)"
                )
            if head is not None and record.seq == head[0]:
                at_head = record.hash
            prev, expected, count = record.hash, expected + 1, count + 1
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
        return VerifyResult(True, count, newest)

    def _bad(self, count: int, seq: int | None, problem: str) -> VerifyResult:
        return VerifyResult(False, count, None, seq, problem)

    def _all(self) -> Iterator[AuditRecord]:
        after = 0
        while True:
            with self.store.begin() as db:
                rows = db.execute(
                    sa.text(
                        f"SELECT {_COLUMNS} FROM weir_audit WHERE seq > :after ORDER BY seq LIMIT :n"
                    ),
                    {"after": after, "n": _CHUNK},
                ).all()
            if not rows:
                return
            for row in rows:
                yield _record(row)
            after = int(rows[-1][0])


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


def _clean(entry: AuditEntry) -> AuditEntry:
    """The entry as it reads back from any database: rounded floats, sorted datasets, no NULs."""
    return AuditEntry(
        entry.kind,
        _text(entry.action),
        _text(entry.user),
        _text(entry.role),
        tuple(sorted(set(entry.datasets))),
        None if entry.rows is None else int(entry.rows),
        None if entry.duration_ms is None else round(float(entry.duration_ms), 3),
        bool(entry.allowed),
        _text(entry.reason),
        json.loads(json.dumps(entry.detail, sort_keys=True, default=str))
        if entry.detail is not None
        else None,
    )


@overload
def _text(value: str) -> str: ...
@overload
def _text(value: None) -> None: ...
def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL (a query posted with one is still recorded): U+FFFD stands in
    return None if value is None else value.replace("\x00", "\ufffd")


def _params(record: AuditRecord) -> dict[str, Any]:
    e = record.entry
    return {
        "seq": record.seq,
        "at": record.at,
        "kind": e.kind,
        "user_name": e.user,
        "role": e.role,
        "action": e.action,
        "datasets": json.dumps(list(e.datasets)),
        "row_count": e.rows,
        "duration_ms": e.duration_ms,
        "allowed": e.allowed,
        "reason": e.reason,
        "detail": None if e.detail is None else json.dumps(e.detail, sort_keys=True),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def _record(row: Sequence[Any]) -> AuditRecord:
    (seq, at, kind, user, role, action, datasets, rows, duration, allowed, reason, detail) = row[
        :12
    ]
    entry = AuditEntry(
        kind=kind,
        action=action,
        user=user,
        role=role,
        datasets=tuple(json.loads(datasets or "[]")),
        rows=None if rows is None else int(rows),
        duration_ms=None if duration is None else float(duration),
        allowed=bool(allowed),
        reason=reason,
        detail=None if detail is None else json.loads(detail),
    )
    return AuditRecord(int(seq), float(at), entry, str(row[12]), str(row[13]))
