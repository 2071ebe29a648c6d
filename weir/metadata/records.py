"""An audit record as the caller gives it, as it is signed, and as a database row holds it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args, overload

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from weir.metadata.literals import assemble

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
    "lifecycle",
    "hold.add",
    "hold.release",
    "signin",
    "signout",
    "password.set",
    "keys.rotate",
    "audit.erase",
    "subject.find",
    "subject.export",
    "subject.erase",
    "catalog.scan",
]
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
SQL_KINDS = frozenset({"query"})  # kinds whose action is SQL: kept as a template and its literals

COLUMNS = (
    "seq, at, kind, user_name, role, action, datasets, row_count, duration_ms, "
    "allowed, reason, detail, prev_hash, hash, literals"
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
    literals: tuple[str, ...] | None = None  # the HMAC of each literal; None: the older chain
    template: str | None = None  # the action as signed: literals as placeholders

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
        } | (
            {}
            if self.literals is None
            else {"action": self.template, "literals": list(self.literals)}
        )

    def as_row(self) -> dict[str, Any]:
        """A flat, JSON-ready view (CLI, API)."""
        plain = self.fields()
        plain.pop("literals", None)
        plain["action"] = self.entry.action
        plain["at"] = self.when.isoformat(timespec="milliseconds")
        plain["hash"] = self.hash
        return plain


def clean(entry: AuditEntry) -> AuditEntry:
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


def params(record: AuditRecord) -> dict[str, Any]:
    e = record.entry
    return {
        "seq": record.seq,
        "at": record.at,
        "kind": e.kind,
        "user_name": e.user,
        "role": e.role,
        "action": e.action if record.template is None else record.template,
        "datasets": json.dumps(list(e.datasets)),
        "row_count": e.rows,
        "duration_ms": e.duration_ms,
        "allowed": e.allowed,
        "reason": e.reason,
        "detail": None if e.detail is None else json.dumps(e.detail, sort_keys=True),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "literals": None if record.literals is None else json.dumps(list(record.literals)),
    }


def read_records(db: Connection, rows: Sequence[Sequence[Any]]) -> list[AuditRecord]:
    values = literal_values(db, [row[0] for row in rows if row[14] is not None])
    return [read_record(row, values.get(int(row[0]), {})) for row in rows]


def literal_values(
    db: Connection, seqs: Sequence[int], span: tuple[int, int] | None = None
) -> dict[int, dict[int, str]]:
    """The stored literals of records ``seqs`` (or of every record in ``span``): seq → index → text."""
    found: dict[int, dict[int, str]] = {}
    if span is not None:
        rows = db.execute(
            sa.text(
                "SELECT seq, idx, value FROM weir_audit_literals WHERE seq BETWEEN :lo AND :hi"
            ),
            {"lo": span[0], "hi": span[1]},
        )
        for seq, index, value in rows:
            found.setdefault(int(seq), {})[int(index)] = str(value)
        return found
    query = sa.text(
        "SELECT seq, idx, value FROM weir_audit_literals WHERE seq IN :seqs"
    ).bindparams(sa.bindparam("seqs", expanding=True))
    for start in range(0, len(seqs), 500):
        for seq, index, value in db.execute(query, {"seqs": list(seqs[start : start + 500])}):
            found.setdefault(int(seq), {})[int(index)] = str(value)
    return found


def read_record(row: Sequence[Any], values: dict[int, str]) -> AuditRecord:
    """A record from its row; a keyed one's SQL re-assembled from the literals still stored."""
    (seq, at, kind, user, role, action, datasets, rows, duration, allowed, reason, detail) = row[
        :12
    ]
    literals = None if row[14] is None else tuple(json.loads(row[14]))
    entry = AuditEntry(
        kind=kind,
        action=action if literals is None else assemble(action, values),
        user=user,
        role=role,
        datasets=tuple(json.loads(datasets or "[]")),
        rows=None if rows is None else int(rows),
        duration_ms=None if duration is None else float(duration),
        allowed=bool(allowed),
        reason=reason,
        detail=None if detail is None else json.loads(detail),
    )
    template = None if literals is None else str(action)
    return AuditRecord(int(seq), float(at), entry, str(row[12]), str(row[13]), literals, template)
