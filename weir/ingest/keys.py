"""Write keys: who may post events to which sources.

A key looks like ``wk_<id>_<secret>``; only its SHA-256 is stored (keys are
random and long, so a plain hash is safe), the key itself is shown once. The
collector and the Segment-compatible endpoints check keys with ``verify``,
which remembers answers for a few seconds: a key revoked in another process
stops working within that time, one revoked here at once.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from weir.errors import AuthError, NotFoundError
from weir.metadata import MetadataStore

PREFIX = "wk_"
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class WriteKey:
    """A write key as listed (never the key itself)."""

    key_id: str
    sources: tuple[str, ...]
    note: str
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``key`` is shown once and cannot be recovered later."""

    key: str
    info: WriteKey


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class WriteKeys:
    """Creates, lists, revokes and verifies write keys in the metadata database."""

    def __init__(self, store: MetadataStore, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def create(
        self, sources: list[str], note: str = "", allowed: list[str] | None = None
    ) -> NewKey:
        """A new key for ``sources`` (each one of ``allowed``, the collected sources, when given)."""
        if not sources:
            raise NotFoundError("a write key needs at least one source", "pass --source NAME")
        for name in sources:
            if allowed is not None and name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                raise NotFoundError(
                    f"no collected source named '{name}'",
                    f"did you mean {close[0]}?" if close else f"use one of: {', '.join(allowed)}",
                )
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        created = time.time()
        listed = tuple(sorted(set(sources)))
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_write_keys (key_id, key_hash, sources, note, created_at) "
                    "VALUES (:i, :h, :s, :n, :t)"
                ),
                {"i": key_id, "h": _digest(key), "s": json.dumps(listed), "n": note, "t": created},
            )
        return NewKey(key, WriteKey(key_id, listed, note, created, None))

    def list_keys(self) -> list[WriteKey]:
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT key_id, sources, note, created_at, revoked_at FROM weir_write_keys "
                    "ORDER BY created_at"
                )
            ).fetchall()
        return [
            WriteKey(key_id, tuple(json.loads(sources)), note, created_at, revoked_at)
            for key_id, sources, note, created_at, revoked_at in rows
        ]

    def revoke(self, key_id: str) -> WriteKey:
        """Revoke a key by its id (the ``wk_<id>_`` part, or the whole key)."""
        if key_id.startswith(PREFIX):
            key_id = key_id[len(PREFIX) :].split("_", 1)[0]
        with self.store.begin() as db:
            done = db.execute(
                sa.text(
                    "UPDATE weir_write_keys SET revoked_at = :t "
                    "WHERE key_id = :i AND revoked_at IS NULL"
                ),
                {"t": time.time(), "i": key_id},
            )
        found = [k for k in self.list_keys() if k.key_id == key_id]
        if not found:
            raise NotFoundError(f"no write key {key_id}", "list them with `weir keys list`")
        if done.rowcount == 0 and found[0].revoked_at is None:
            raise NotFoundError(f"write key {key_id} could not be revoked", "try again")
        with self._lock:
            self._cache.clear()
        return found[0]

    def verify(self, key: str | None) -> frozenset[str]:
        """The sources ``key`` may post to; AuthError when it is missing, unknown or revoked."""
        if not key:
            raise AuthError(
                "no write key",
                "send it as `Authorization: Bearer <key>` (or as the basic-auth user name)",
            )
        digest = _digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            sources = cached[1]
        else:
            with self.store.begin() as db:
                row = db.execute(
                    sa.text(
                        "SELECT sources FROM weir_write_keys "
                        "WHERE key_hash = :h AND revoked_at IS NULL"
                    ),
                    {"h": digest},
                ).first()
            sources = frozenset(json.loads(row[0])) if row is not None else frozenset()
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = (now + self.cache_seconds, sources)
        if not sources:
            raise AuthError(
                "the write key is unknown or revoked", "create one with `weir keys create`"
            )
        return sources
