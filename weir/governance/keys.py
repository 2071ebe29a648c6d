"""Write keys: who may post events to which sources.

A key looks like ``wk_<id>_<secret>``; it is a credential of kind ``write_key``
(``weir.governance.credentials``): shown once, stored as a hash, listed and
revoked; it does not expire. The collector and the Segment-compatible endpoints
check keys with ``verify``, which remembers answers for a few seconds: a key
revoked in another process stops working within that time, one revoked here at once.
"""

from __future__ import annotations

import difflib
import threading
import time
from dataclasses import dataclass

from weir.errors import AuthError, NotFoundError, WeirError
from weir.governance.credentials import Credential, Credentials, digest
from weir.metadata import MetadataStore

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


class WriteKeys:
    """Creates, lists, revokes and verifies write keys in the metadata database."""

    def __init__(self, store: MetadataStore, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.credentials = Credentials(store, "write_key")
        # digest of a key -> (until when the answer holds, its sources or the refusal)
        self._cache: dict[str, tuple[float, frozenset[str] | AuthError]] = {}
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
        credential, key = self.credentials.create(tuple(sorted(set(sources))), note)
        return NewKey(key, _write_key(credential))

    def list_keys(self) -> list[WriteKey]:
        return [_write_key(credential) for credential in self.credentials.list()]

    def revoke(self, key_id: str) -> WriteKey:
        """Revoke a key by its id (the ``wk_<id>_`` part, or the whole key)."""
        credential, _ = self.credentials.revoke(key_id)
        with self._lock:
            self._cache.clear()
        return _write_key(credential)

    def verify(self, key: str | None) -> frozenset[str]:
        """The sources ``key`` may post to; AuthError when it is missing, unknown or revoked."""
        if not key:
            return frozenset(self.credentials.verify(key).grant)  # raises: no key
        cache_key = digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            answer = cached[1]
        else:
            try:
                answer = frozenset(self.credentials.verify(key).grant)
            except AuthError as refused:
                answer = refused
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[cache_key] = (now + self.cache_seconds, answer)
        if isinstance(answer, WeirError):
            raise AuthError(answer.what, answer.fix)
        return answer


def _write_key(credential: Credential) -> WriteKey:
    return WriteKey(
        key_id=credential.id,
        sources=credential.grant,
        note=credential.note or "",
        created_at=credential.created_at,
        revoked_at=credential.revoked_at,
    )
