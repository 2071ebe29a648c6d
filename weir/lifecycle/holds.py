"""Legal holds: a source whose data no retention rule may destroy until the hold is released.

A hold is kept in the metadata database (``weir_holds``) with who placed it,
when and why; releasing it keeps the record (who, when, why released). Both
are audited. While a hold is active, ``weir lifecycle run`` leaves the
source's tables (raw, quarantine, staging: their rows and their old snapshots)
and its collector log as they are, and says which hold stopped it.

A hold can also name one data subject (``weir lifecycle hold add --subject
42``): while it is active, erasing that person (``weir subject erase``) is
refused and changes nothing. The hold names them by the keyed hash of their
identifier (as the erasure registry does), never the identifier itself.
Retention is not narrowed by a subject hold: it destroys rows by their age,
table by table, and a keyed hash cannot be matched against a table's rows;
hold the sources that carry the person when their rows must outlive the
rules.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

import sqlalchemy as sa

from weir.errors import NotFoundError, QueryError, WeirError
from weir.governance.subjects import Subject
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.metadata.erasures import ErasureRegistry
from weir.project import ProjectFiles


class HeldError(WeirError):
    """Data under a legal hold was asked to be destroyed."""

    code = "held"
    status = 409


@dataclass(frozen=True)
class Hold:
    hold_id: str
    source: str | None
    subject: str | None
    reason: str
    created_by: str
    created_at: float
    released_at: float | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def held(self) -> str:
        """What is held: the source, or ``customer #1a2b3c4d5e6f`` (its identifier's keyed hash)."""
        if self.source is not None:
            return self.source
        kind, _, digest = (self.subject or "").partition(":")
        return f"{kind} #{digest[:12]}"

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%d")
        return f"legal hold {self.hold_id} on {self.held} since {since} ({self.reason})"

    def as_row(self) -> dict[str, object]:
        def when(t: float | None) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else ""

        return {
            "hold": self.hold_id,
            "source": self.source or "",
            "subject": self.held if self.subject else "",
            "reason": self.reason,
            "by": self.created_by,
            "since": when(self.created_at),
            "released": when(self.released_at),
            "released_by": self.released_by or "",
            "release_reason": self.release_reason or "",
        }


class Holds:
    """Place, list and release legal holds."""

    def __init__(
        self,
        files: ProjectFiles,
        store: MetadataStore,
        audit: AuditLog,
        erasures: ErasureRegistry | None = None,
    ) -> None:
        self.files = files
        self.store = store
        self.audit = audit
        self.erasures = erasures

    def add(self, source: str, reason: str, user: str | None = None) -> Hold:
        """Hold ``source``: retention destroys none of its data until the hold is released."""
        self.files.source(source)  # an unknown name fails with a did-you-mean
        return self._add(
            source,
            None,
            reason,
            user,
            f"lifecycle hold add --source {source}",
            _datasets(source),
        )

    def add_subject(self, subject: Subject, reason: str, user: str | None = None) -> Hold:
        """Hold one person: erasing them is refused until the hold is released."""
        if not reason.strip():  # before the person's key is looked up
            _no_reason()
        held = self._subject_key(subject)
        return self._add(
            None, held, reason, user, f"lifecycle hold add --subject ({subject.kind})", ()
        )

    def _add(
        self,
        source: str | None,
        subject: str | None,
        reason: str,
        user: str | None,
        action: str,
        datasets: tuple[str, ...],
    ) -> Hold:
        """Store one hold (on a source, or on a person by their keyed hash) and audit it."""
        reason = reason.strip()
        if not reason:
            _no_reason()
        hold = Hold(
            f"h-{secrets.token_hex(4)}", source, subject, reason, user or operator(), time.time()
        )
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_holds (hold_id, source, subject, reason, created_by, created_at)"
                    " VALUES (:h, :s, :p, :r, :u, :t)"
                ),
                {
                    "h": hold.hold_id,
                    "s": source,
                    "p": subject,
                    "r": reason,
                    "u": hold.created_by,
                    "t": hold.created_at,
                },
            )
        on = {"source": source} if source is not None else {"subject": subject}
        self.audit.append(
            AuditEntry(
                "hold.add",
                action,
                user=hold.created_by,
                datasets=datasets,
                reason=reason,
                detail={"hold": hold.hold_id, **on},
            )
        )
        return hold

    def for_subject(self, subject: Subject) -> Hold | None:
        """The oldest active hold on this person, if any."""
        return next(iter(self.on_subject(subject)), None)

    def on_subject(self, subject: Subject) -> list[Hold]:
        """The active holds on this person, oldest first."""
        held = self._subject_key(subject)
        return [h for h in self.list() if h.subject == held]

    def subject_notice(self, subject: Subject) -> list[dict[str, str]]:
        """The active holds on this person as ``weir subject find`` shows them: each hold's
        id, reason, who placed it and since when, and how to release it."""
        return [
            {
                "hold": h.hold_id,
                "reason": h.reason,
                "by": h.created_by,
                "since": datetime.fromtimestamp(h.created_at, UTC).isoformat(timespec="seconds"),
                "release": f'weir lifecycle hold release {h.hold_id} --reason "..."',
                "release_api": f"POST /api/v1/lifecycle/holds/{h.hold_id}/release",
            }
            for h in self.on_subject(subject)
        ]

    def check_erasable(self, subject: Subject) -> None:
        """A HeldError (nothing changed) when a legal hold covers this person."""
        hold = self.for_subject(subject)
        if hold is not None:
            raise HeldError(
                f"{subject.kind} {subject.id} is under {hold.describe()}: "
                "they may not be erased while it lasts; nothing was changed",
                f"release the hold first (`weir lifecycle hold release {hold.hold_id}`) "
                "once the matter it preserves evidence for allows it",
            )

    def _subject_key(self, subject: Subject) -> str:
        if self.erasures is None:
            raise QueryError(
                "holds on one person need the project's erasure key",
                "open the project with weir.Project to place them",
            )
        return f"{subject.kind}:{self.erasures.digest(subject.kind, subject.id)}"

    def release(self, hold_id: str, reason: str = "", user: str | None = None) -> Hold:
        """End a hold; its record stays, with who released it and why."""
        hold = self.get(hold_id)
        if not hold.active:
            raise QueryError(
                f"hold {hold_id} was already released", "see `weir lifecycle hold list --all`"
            )
        who, now = user or operator(), time.time()
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_holds SET released_at = :t, released_by = :u, release_reason = :r"
                    " WHERE hold_id = :h AND released_at IS NULL"
                ),
                {"t": now, "u": who, "r": reason.strip() or None, "h": hold_id},
            )
        self.audit.append(
            AuditEntry(
                "hold.release",
                f"lifecycle hold release {hold_id}",
                user=who,
                datasets=_datasets(hold.source) if hold.source else (),
                reason=reason.strip() or None,
                detail={"hold": hold_id, "source": hold.source}
                if hold.source
                else {"hold": hold_id, "subject": hold.held},
            )
        )
        return self.get(hold_id)

    def get(self, hold_id: str) -> Hold:
        with self.store.begin() as db:
            row = (
                db.execute(sa.text("SELECT * FROM weir_holds WHERE hold_id = :h"), {"h": hold_id})
                .mappings()
                .first()
            )
        if row is None:
            raise NotFoundError(
                f"no legal hold {hold_id}",
                "see `weir lifecycle hold list`",
                kind="hold",
                name=hold_id,
            )
        return _hold(row)

    def list(self, include_released: bool = False) -> list[Hold]:
        query = "SELECT * FROM weir_holds"
        if not include_released:
            query += " WHERE released_at IS NULL"
        with self.store.begin() as db:
            rows = db.execute(sa.text(query + " ORDER BY created_at")).mappings().all()
        return [_hold(row) for row in rows]

    def active(self) -> dict[str, Hold]:
        """source → its oldest active hold."""
        found: dict[str, Hold] = {}
        for hold in self.list():
            if hold.source is not None:
                found.setdefault(hold.source, hold)
        return found


def _datasets(source: str) -> tuple[str, ...]:
    return tuple(f"{layer}.{source}" for layer in ("raw", "quarantine", "staging"))


def _hold(row: sa.RowMapping) -> Hold:
    return Hold(
        row["hold_id"],
        row["source"],
        row["subject"],
        row["reason"],
        row["created_by"],
        float(row["created_at"]),
        None if row["released_at"] is None else float(row["released_at"]),
        row["released_by"],
        row["release_reason"],
    )


def _no_reason() -> NoReturn:
    raise QueryError("a legal hold needs a reason", 'say why: --reason "litigation 2026-114"')
