"""Personal data sealed per data subject: AES-256-GCM under one key per subject (crypto-shredding).

A personal value is stored as one text token::

    wpii1.<ref>.<base64url(nonce || ciphertext || tag)>

``ref`` names the subject without revealing them: the first 32 hex characters
of the keyed hash the erasure registry keeps of their identifier (HMAC-SHA256
under the project's erasure key). The subject's data key is the key store's
``subject:<ref>`` (32 random bytes, sealed under the master key); the nonce is
12 random bytes per value, and ``wpii1.<ref>`` is the associated data, so a
token moved to another subject does not open.

Destroying a subject's key makes every token of theirs unreadable at once, in
the current files, in old snapshots and in every backup: a token whose key is
gone opens as NULL (a typed null, so a column keeps its type and an aggregate
skips it). Keys are read from the store in bulk and kept while the store's
subject keys are unchanged (one query every ``KEY_TTL`` seconds tells): another
process sees a destroyed key gone within that time, this process at once.

A value that is not a token opens as itself (data written before sealing was
turned on); sealing a token again leaves it as it is.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from collections.abc import Callable, Collection

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from weir.metadata.keys import KeyStore

PREFIX = "wpii1."
REF_CHARS = 32
KEY_TTL = 2.0  # seconds between checks that the keys read from the store are still there
_NONCE = 12
_AT, _END = len(PREFIX), len(PREFIX) + REF_CHARS  # where a token's ref is
_REFS_KEPT = 1_000_000  # identifiers whose ref is remembered (then forgotten all at once)


class PiiCipher:
    """Seals and opens personal values, one key per subject, vectorised over Arrow arrays."""

    def __init__(self, keys: KeyStore, digest: Callable[[str, object], str]) -> None:
        """``digest``: the erasure registry's keyed hash of a subject's identifier."""
        self.keys = keys
        self.digest = digest
        # ref -> the subject's cipher, None when they have no key (destroyed, or never made)
        self._cache: dict[str, AESGCM | None] = {}
        self._version: tuple[int, float] | None = None  # the key store's, when last checked
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._refs: dict[tuple[str, object], str] = {}

    def ref(self, kind: str, subject_id: object) -> str:
        """The name a subject's tokens carry (and their key's name in the key store)."""
        known = self._refs.get((kind, subject_id))
        if known is None:
            if len(self._refs) >= _REFS_KEPT:
                self._refs.clear()
            known = self._refs[(kind, subject_id)] = self.digest(kind, subject_id)[:REF_CHARS]
        return known

    # -- values ------------------------------------------------------------------------
    def seal(self, kind: str, ids: pa.Array, values: pa.Array) -> pa.Array:
        """Each value sealed under the key of the subject on its row (made if they have none).

        A null value, a row whose subject is unknown (null or blank identifier) and a
        value that is already a token are left as they are.
        """
        id_list, value_list = ids.to_pylist(), values.to_pylist()
        rows = [
            (row, subject)
            for row, (subject, value) in enumerate(zip(id_list, value_list, strict=True))
            if _sealable(subject, value)
        ]
        if not rows:
            return values.cast(pa.string())
        refs = {subject: self.ref(kind, subject) for _, subject in rows}
        ciphers = self._ciphers(set(refs.values()), create=True)
        nonces = os.urandom(_NONCE * len(rows))
        out: list[str | None] = list(value_list)
        encode = base64.urlsafe_b64encode
        for number, (row, subject) in enumerate(rows):
            head = PREFIX + refs[subject]
            cipher = ciphers[refs[subject]]
            assert cipher is not None
            nonce = nonces[number * _NONCE : (number + 1) * _NONCE]
            body = cipher.encrypt(nonce, value_list[row].encode(), head.encode())
            out[row] = head + "." + encode(nonce + body).decode()
        return pa.array(out, pa.string())

    def open(self, values: pa.Array) -> pa.Array:
        """Each token opened; NULL where its subject's key is gone; other values as they are."""
        value_list = values.to_pylist()
        refs = {v[_AT:_END] for v in value_list if v is not None and v.startswith(PREFIX)}
        if not refs:
            return values.cast(pa.string())
        ciphers = self._ciphers(refs, create=False)
        decode = base64.urlsafe_b64decode
        out: list[str | None] = []
        for value in value_list:
            if value is None or not value.startswith(PREFIX):
                out.append(value)
                continue
            cipher = ciphers.get(value[_AT:_END])
            if cipher is None:
                out.append(None)
                continue
            try:
                raw = decode(value[_END + 1 :])
                out.append(
                    cipher.decrypt(raw[:_NONCE], raw[_NONCE:], value[:_END].encode()).decode()
                )
            except (InvalidTag, ValueError, binascii.Error, UnicodeError):
                out.append(None)  # altered: as unreadable as an erased value
        return pa.array(out, pa.string())

    # -- keys --------------------------------------------------------------------------
    def destroy(self, kind: str, subject_id: object) -> bool:
        """Destroy one subject's key (every token of theirs reads as NULL from now on)."""
        ref = self.ref(kind, subject_id)
        destroyed = self.keys.destroy_subject_key(ref)
        with self._lock:
            self._cache[ref] = None
        return destroyed

    def has_key(self, kind: str, subject_id: object) -> bool:
        return self.keys.subject_key(self.ref(kind, subject_id), create=False) is not None

    def _ciphers(self, refs: Collection[str], create: bool) -> dict[str, AESGCM | None]:
        self._check_version()
        found: dict[str, AESGCM | None] = {}
        with self._lock:
            for ref in refs:
                if ref in self._cache and (self._cache[ref] is not None or not create):
                    found[ref] = self._cache[ref]
        wanted = [ref for ref in refs if ref not in found]
        if wanted:
            keys = self.keys.subject_keys(wanted, create=create)
            with self._lock:
                for ref in wanted:
                    key = keys.get(ref)
                    found[ref] = self._cache[ref] = None if key is None else AESGCM(key)
        return found

    def _check_version(self) -> None:
        """Forget every key read once the store's subject keys changed (checked every KEY_TTL s)."""
        now = time.monotonic()
        if now - self._checked < KEY_TTL:
            return
        version = self.keys.subject_keys_version()
        with self._lock:
            if version != self._version:
                self._cache.clear()
                self._version = version
            self._checked = now


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _sealable(subject: object, value: object) -> bool:
    return (
        isinstance(value, str)
        and not value.startswith(PREFIX)
        and subject is not None
        and str(subject).strip() != ""
    )
