"""The erasure registry: which data subjects were erased, known only by keyed hashes.

An erasure is recorded before anything is changed, with the keyed hash of the
subject's identifier (HMAC-SHA256 under the project's erasure key, from the
key store, sealed under the master key); its steps
are ticked off as they finish, so running it again after a crash skips what is
done. ``weir_erased_values`` holds the hash of the identifier as ingestion
sees it, so a late file or event about an erased subject is recognised and
suppressed (``suppressed_in``) instead of being stored again.

The same key makes an erased subject's stable pseudonym (``pseudonym``): a
negative integer for an integer identifier, ``erased_<hex>`` for a text one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from weir.metadata.store import MetadataStore

_INT32 = 1 << 31


def normal(value: object) -> str:
    """An identifier as one text, whatever type a layer stores it in (``7``, ``'7'``, ``' 7 '``)."""
    text = str(value).strip()
    try:
        return str(int(text))
    except ValueError:
        return text


@dataclass(frozen=True)
class Erasure:
    """One erasure as recorded: its steps done so far, and the certificate once it ended."""

    erasure_id: str
    subject: str
    subject_hash: str
    reason: str
    requested_by: str | None
    state: str  # running, done
    steps: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float | None = None
    certificate: dict[str, Any] | None = None


class ErasureRegistry:
    """Records erasures and answers whether an identifier belongs to an erased subject."""

    def __init__(self, store: MetadataStore, key: Callable[[], bytes]) -> None:
        """``key`` gives the erasure key (from the key store), asked for on first use only."""
        self.store = store
        self._get_key = key
        self._loaded: bytes | None = None

    @property
    def _key(self) -> bytes:
        if self._loaded is None:  # made on first use: opening a project writes no key
            self._loaded = self._get_key()
        return self._loaded

    # -- hashing ----------------------------------------------------------------------
    def digest(self, subject: str, value: object) -> str:
        """The keyed hash of one identifier of a subject kind (``customer``, ``7``)."""
        message = f"{subject}\x00{normal(value)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def pseudonym(self, subject: str, value: object, integer: bool) -> int | str:
        """The stable stand-in for an erased identifier: the same in every table and run."""
        message = f"pseudonym\x00{subject}\x00{normal(value)}".encode()
        mac = hmac.new(self._key, message, hashlib.sha256).digest()
        if integer:
            # negative, so it never meets a real (positive) id; within 32 bits, so it fits
            # an INTEGER column a model may have cast the identifier to
            return -(int.from_bytes(mac[:8], "big") % (_INT32 - 1)) - 1
        return f"erased_{mac[:8].hex()}"

    # -- recording --------------------------------------------------------------------
    def begin(self, subject: str, value: object, reason: str, by: str | None) -> Erasure:
        """The erasure of this subject: the running one (to finish) or a new one."""
        digest = self.digest(subject, value)
        found = self.find(subject, value)
        if found is not None:
            return found
        erasure_id = f"er_{secrets.token_hex(8)}"
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_erasures (erasure_id, subject, subject_hash, reason,"
                    " requested_by, state, steps, started_at) VALUES (:e, :s, :h, :r, :b,"
                    " 'running', '{}', :t)"
                ),
                {
                    "e": erasure_id,
                    "s": subject,
                    "h": digest,
                    "r": reason,
                    "b": by,
                    "t": time.time(),
                },
            )
            db.execute(
                sa.text(
                    "INSERT INTO weir_erased_values (subject, value_hash, erasure_id)"
                    " VALUES (:s, :h, :e)"
                ),
                {"s": subject, "h": digest, "e": erasure_id},
            )
        found = self.find(subject, value)
        assert found is not None
        return found

    def step_done(self, erasure_id: str, step: str, outcome: Any) -> None:
        """Tick one step off (with what it did): a rerun skips it."""
        with self.store.begin() as db:
            row = db.execute(
                sa.text("SELECT steps FROM weir_erasures WHERE erasure_id = :e"), {"e": erasure_id}
            ).first()
            steps = json.loads(row[0]) if row is not None else {}
            steps[step] = outcome
            db.execute(
                sa.text("UPDATE weir_erasures SET steps = :s WHERE erasure_id = :e"),
                {"s": json.dumps(steps, sort_keys=True), "e": erasure_id},
            )

    def finish(self, erasure_id: str, certificate: dict[str, Any]) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_erasures SET state = 'done', finished_at = :t, certificate = :c"
                    " WHERE erasure_id = :e"
                ),
                {"t": time.time(), "c": json.dumps(certificate, sort_keys=True), "e": erasure_id},
            )

    # -- reading ----------------------------------------------------------------------
    def find(self, subject: str, value: object) -> Erasure | None:
        with self.store.begin() as db:
            row = (
                db.execute(
                    sa.text("SELECT * FROM weir_erasures WHERE subject = :s AND subject_hash = :h"),
                    {"s": subject, "h": self.digest(subject, value)},
                )
                .mappings()
                .first()
            )
        return _erasure(row) if row is not None else None

    def list(self, subject: str | None = None) -> list[Erasure]:
        query = "SELECT * FROM weir_erasures"
        params: dict[str, str] = {}
        if subject is not None:
            query += " WHERE subject = :s"
            params["s"] = subject
        with self.store.begin() as db:
            rows = db.execute(sa.text(query + " ORDER BY started_at"), params).mappings().all()
        return [_erasure(row) for row in rows]

    def suppressed_in(self, subject: str, values: Iterable[object]) -> set[str]:
        """Which of ``values`` (identifiers as a source wrote them) belong to an erased subject."""
        with self.store.begin() as db:
            erased = {
                row[0]
                for row in db.execute(
                    sa.text("SELECT value_hash FROM weir_erased_values WHERE subject = :s"),
                    {"s": subject},
                )
            }
        if not erased:
            return set()
        return {
            str(value)
            for value in values
            if value is not None
            and str(value).strip() != ""
            and self.digest(subject, value) in erased
        }

    def any_erased(self) -> bool:
        with self.store.begin() as db:
            return (
                db.execute(sa.text("SELECT 1 FROM weir_erased_values LIMIT 1")).first() is not None
            )


def _erasure(row: sa.RowMapping) -> Erasure:
    return Erasure(
        erasure_id=row["erasure_id"],
        subject=row["subject"],
        subject_hash=row["subject_hash"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        state=row["state"],
        steps=json.loads(row["steps"] or "{}"),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        certificate=json.loads(row["certificate"]) if row["certificate"] else None,
    )
