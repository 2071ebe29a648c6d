"""The key store: every secret key of a project, sealed under a master key kept outside it.

A project's keys (the masking key, the card tokenisation key, the audit log's
HMAC key, the data key of the lake's files when they are encrypted at rest, and
one data key per subject for crypto-erasure) are rows of the
metadata database (``weir_keys``), each encrypted with AES-256-GCM under the
master key. The key's name, kind, creation time and meta are the associated
data: a sealed key moved to another name, or its meta changed, no longer opens.
``weir_master`` holds the id of the master key that seals the store (a keyed
digest of it) and a value sealed under it, so a wrong master key is named
before any key is read.

The master key is 32 bytes, never stored in the project:

- ``WEIR_MASTER_KEY``: the key itself, as 64 hex characters or base64 (44 characters);
- ``WEIR_MASTER_KEY_FILE``: a file outside the project folder holding it (hex,
  base64 or the 32 raw bytes);
- otherwise the user's own ``$XDG_CONFIG_HOME/weir/master.key`` (by default
  ``~/.config/weir/master.key``), created readable by its owner only, and only
  for a project that has no key store yet.

A project whose key store exists and whose master key is missing or wrong
stops with a ``MasterKeyError``; nothing is created and nothing is written.

Creating a key is one insert that yields to a key another process created
first (then read back); rotating the master key re-seals every key and the
check value in one transaction, so a crash leaves the store sealed under the
old key or the new one, never a mix.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from weir.errors import NotFoundError
from weir.metadata.master import (
    KEY_BYTES,
    MAKE_KEY,
    MASTER_KEY,
    MASTER_KEY_FILE,
    MasterKey,
    MasterKeyError,
    default_key_file,
    find_master_key,
)
from weir.metadata.store import MetadataStore

if TYPE_CHECKING:
    from weir.metadata.dbkey import DatabaseKey

KeyKind = Literal["mask", "card", "audit", "subject", "erasure", "at_rest"]
KEY_KINDS: tuple[str, ...] = get_args(KeyKind)
MASK_KEY, CARD_KEY, AUDIT_KEY = "mask", "card", "audit"
ERASURE_KEY = "erasure"  # keyed hashes and pseudonyms of erased subjects
AT_REST_KEY = "at_rest"  # encrypts the lake's data files (``encryption: {at_rest: true}``)
# keys kept as clear files before the key store: adopted with the same value, then removed
CLEAR_FILES: dict[str, tuple[str, KeyKind]] = {
    "mask.key": (MASK_KEY, "mask"),
    "pci.key": (CARD_KEY, "card"),
}
_CHECK = b"weir key store"


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, without its value."""

    name: str
    kind: KeyKind
    created_at: float
    meta: dict[str, Any]


@dataclass(frozen=True)
class StoreInfo:
    """The key store as a whole: the master key that seals it and when."""

    master_key_id: str
    created_at: float
    rotated_at: float | None
    keys: tuple[KeyInfo, ...]


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    keys: int
    at: float


class KeyStore:
    """The project's keys, sealed under its master key in the metadata database."""

    def __init__(
        self,
        store: MetadataStore,
        project: Sequence[Path],
        environ: Mapping[str, str] | None = None,
        clear_keys: Path | None = None,
        database_key: DatabaseKey | None = None,
    ) -> None:
        """``project``: the folders a master key file may not be in (the project's, its state's);
        ``clear_keys``: the folder of keys kept in clear files before, adopted on first open;
        ``database_key``: the sealed key of the database, when it is encrypted at rest."""
        self.store = store
        self.project = tuple(project)
        self.environ = environ
        self.clear_keys = clear_keys
        self.database_key = database_key
        self._master: MasterKey | None = None
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # -- opening ---------------------------------------------------------------------------------
    def master(self) -> MasterKey:
        """The master key, checked against the store (which it creates if the project has none)."""
        with self._lock:
            if self._master is None:
                self._master = self._open()
            return self._master

    def exists(self) -> bool:
        with self.store.begin() as db:
            return _master_row(db) is not None

    def _open(self) -> MasterKey:
        environ = os.environ if self.environ is None else self.environ
        with self.store.begin() as db:
            row = _master_row(db)
        if row is None:
            given = find_master_key(environ, self.project, create_default=True)
            assert given is not None
            with self._writing() as db:
                # a store another process made meanwhile wins; it is then checked like any other
                db.execute(
                    sa.text(
                        "INSERT INTO weir_master (id, key_id, nonce, sealed, created_at)"
                        " VALUES (1, :key_id, :nonce, :sealed, :at) ON CONFLICT (id) DO NOTHING"
                    ),
                    {"key_id": given.key_id, **_seal(given, _CHECK, b"check"), "at": time.time()},
                )
                row = _master_row(db)
            assert row is not None
        else:
            found = find_master_key(environ, self.project, create_default=False)
            if found is None:
                raise MasterKeyError(
                    f"the key store of this project is sealed under master key {row[0]}, "
                    "and no master key was given",
                    f"set {MASTER_KEY} (hex or base64) or {MASTER_KEY_FILE} (a file outside the "
                    f"project) to that master key ({default_key_file(environ)} does not exist); "
                    "if it is lost, so are the project's keys: see docs/keys.md, Recovery",
                )
            given = found
        _check(given, row)
        self._adopt_clear_files(given)
        return given

    def _adopt_clear_files(self, master: MasterKey) -> None:
        """Move keys kept in clear files into the store, with the same values, then remove them."""
        if self.clear_keys is None:
            return
        for filename, (name, kind) in CLEAR_FILES.items():
            path = self.clear_keys / filename
            try:
                value = path.read_bytes()
            except FileNotFoundError:
                continue
            stored = self._get(master, name, kind, _given(value))
            if not hmac.compare_digest(stored, value):
                raise MasterKeyError(
                    f"{path} holds another {kind} key than the project's key store",
                    f"the key store's is the one in use: move {path} out of the project "
                    "(keep it if you need to read what it protected)",
                )
            path.unlink(missing_ok=True)  # another process adopting it too may be first
        with contextlib.suppress(OSError):  # missing, or holding something else: left as it is
            self.clear_keys.rmdir()

    # -- keys ------------------------------------------------------------------------------------
    def key(
        self,
        name: str,
        kind: KeyKind,
        meta: Callable[[Connection], dict[str, Any]] | None = None,
    ) -> bytes:
        """The key ``name``, created (32 random bytes) if the store has none of that name.

        ``meta`` gives the new key's meta inside the transaction that creates it.
        """
        cached = self._keys.get(name)
        if cached is not None:
            return cached
        master = self.master()
        make = meta or (lambda _db: {})
        value = self._get(master, name, kind, lambda db: (make(db), os.urandom(KEY_BYTES)))
        self._keys[name] = value
        return value

    def find(self, name: str) -> tuple[bytes, KeyInfo] | None:
        """A key and its information if the store holds it; nothing is created."""
        master = self.master()
        with self.store.begin() as db:
            row = _key_row(db, name)
        if row is None:
            return None
        return _unseal_key(master, row), _info(row)

    def subject_key(self, subject_id: str, create: bool = True) -> bytes | None:
        """The data key of one subject (a customer, a person): None once destroyed or never made."""
        name = f"subject:{subject_id}"
        if create:
            return self.key(name, "subject")
        found = self.find(name)
        return None if found is None else found[0]

    def subject_keys(self, subject_ids: Collection[str], create: bool) -> dict[str, bytes]:
        """The data keys of several subjects, read in one query (and made in one transaction
        with ``create``); a subject whose key was destroyed or never made is left out."""
        master = self.master()
        wanted = {f"subject:{subject_id}": subject_id for subject_id in subject_ids}
        found = self._subject_rows(master, list(wanted))
        missing = [name for name in wanted if name not in found]
        if create and missing:
            with self._writing() as db:
                _still_current(db, master)
                at, meta = time.time(), json.dumps({}, sort_keys=True)
                insert = sa.text(
                    "INSERT INTO weir_keys (name, kind, created_at, meta, nonce, sealed)"
                    " VALUES (:n, 'subject', :at, :meta, :nonce, :sealed)"
                    " ON CONFLICT (name) DO NOTHING"
                )
                db.execute(
                    insert,
                    [
                        {
                            "n": name,
                            "at": at,
                            "meta": meta,
                            **_seal(
                                master,
                                os.urandom(KEY_BYTES),
                                _associated(name, "subject", at, meta),
                            ),
                        }
                        for name in missing
                    ],
                )
            found.update(self._subject_rows(master, missing))  # another process's key wins
        return {wanted[name]: value for name, value in found.items()}

    def subject_keys_version(self) -> tuple[int, float]:
        """How many subject keys there are and when the newest was made: it changes whenever one
        is made or destroyed, so a process can tell its copies are still good with one query."""
        with self.store.begin() as db:
            row = db.execute(
                sa.text("SELECT count(*), max(created_at) FROM weir_keys WHERE kind = 'subject'")
            ).first()
        return (0, 0.0) if row is None else (int(row[0]), float(row[1] or 0.0))

    def _subject_rows(self, master: MasterKey, names: Sequence[str]) -> dict[str, bytes]:
        select = sa.text(
            "SELECT name, kind, created_at, meta, nonce, sealed FROM weir_keys"
            " WHERE name IN :names AND kind = 'subject'"
        ).bindparams(sa.bindparam("names", expanding=True))
        found: dict[str, bytes] = {}
        with self.store.begin() as db:
            for start in range(0, len(names), 500):
                for row in db.execute(select, {"names": names[start : start + 500]}):
                    found[str(row[0])] = _unseal_key(master, row)
        return found

    def destroy_subject_key(self, subject_id: str) -> bool:
        """Destroy a subject's data key, so what it encrypted can never be read again."""
        return self.destroy_subject_keys([subject_id]) == 1

    def destroy_subject_keys(self, subject_ids: Collection[str]) -> int:
        """Destroy the data keys of several subjects at once; returns how many there were.

        The rows are deleted with SQLite's ``secure_delete``, then the database is
        rewritten and its write-ahead log emptied (``MetadataStore.scrub``), so the
        sealed keys' bytes leave the files too: one rewrite for the whole batch.
        """
        names = [f"subject:{subject_id}" for subject_id in subject_ids]
        if not names:
            return 0
        delete = sa.text("DELETE FROM weir_keys WHERE name IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        )
        deleted = 0
        with self._writing(scrub=True) as db:
            for start in range(0, len(names), 500):
                deleted += db.execute(delete, {"names": names[start : start + 500]}).rowcount
        for name in names:
            self._keys.pop(name, None)
        self.store.scrub()
        return deleted

    def info(self, kind: str | None = None) -> StoreInfo:
        """The store and its keys (names, kinds, times, meta: never a value); no master key needed."""
        if kind is not None and kind not in KEY_KINDS:
            raise NotFoundError.among("key kind", kind, KEY_KINDS, f"use one of {KEY_KINDS}")
        with self.store.begin() as db:
            master = _master_row(db)
            rows = db.execute(
                sa.text(
                    "SELECT name, kind, created_at, meta, nonce, sealed FROM weir_keys"
                    + (" WHERE kind = :kind" if kind else "")
                    + " ORDER BY kind, name"
                ),
                {"kind": kind},
            ).all()
            times = db.execute(
                sa.text("SELECT created_at, rotated_at FROM weir_master WHERE id = 1")
            ).first()
        if master is None or times is None:
            raise NotFoundError(
                "this project has no key store yet", "any command that opens it makes one"
            )
        rotated = None if times[1] is None else float(times[1])
        return StoreInfo(
            str(master[0]), float(times[0]), rotated, tuple(_info(row) for row in rows)
        )

    # -- rotating --------------------------------------------------------------------------------
    def rotate_master(self, new: MasterKey) -> Rotation:
        """Re-seal every key and the check value under ``new``, in one transaction."""
        old = self.master()
        if new.key_id == old.key_id:
            raise MasterKeyError(
                f"the new master key ({new.source}) is the one the store is sealed under",
                f"make a new key with `{MAKE_KEY}`",
            )
        at = time.time()
        if self.database_key is not None:  # the database opens with either key meanwhile
            self.database_key.add(old, new)
        with self._writing(exclusive=True) as db:
            row = _master_row(db)
            assert row is not None
            _check(old, row)
            keys = db.execute(
                sa.text("SELECT name, kind, created_at, meta, nonce, sealed FROM weir_keys")
            ).all()
            for key in keys:
                value = _unseal_key(old, key)
                db.execute(
                    sa.text(
                        "UPDATE weir_keys SET nonce = :nonce, sealed = :sealed WHERE name = :n"
                    ),
                    {"n": key[0], **_seal(new, value, _associated(*key[:4]))},
                )
            db.execute(
                sa.text(
                    "UPDATE weir_master SET key_id = :key_id, nonce = :nonce, sealed = :sealed,"
                    " rotated_at = :at WHERE id = 1"
                ),
                {"key_id": new.key_id, **_seal(new, _CHECK, b"check"), "at": at},
            )
        if self.database_key is not None:
            self.database_key.keep_only(new)
        with self._lock:
            self._master = new
        return Rotation(old.key_id, new.key_id, len(keys), at)

    # -- the database ----------------------------------------------------------------------------
    def _get(
        self,
        master: MasterKey,
        name: str,
        kind: KeyKind,
        make: Callable[[Connection], tuple[dict[str, Any], bytes]],
    ) -> bytes:
        with self.store.begin() as db:
            row = _key_row(db, name)
        if row is None:
            with self._writing() as db:
                _still_current(db, master)
                if _key_row(db, name) is None:
                    meta, value = make(db)
                    at, meta_text = time.time(), json.dumps(meta, sort_keys=True)
                    db.execute(
                        sa.text(
                            "INSERT INTO weir_keys (name, kind, created_at, meta, nonce, sealed)"
                            " VALUES (:n, :kind, :at, :meta, :nonce, :sealed)"
                            " ON CONFLICT (name) DO NOTHING"
                        ),
                        {
                            "n": name,
                            "kind": kind,
                            "at": at,
                            "meta": meta_text,
                            **_seal(master, value, _associated(name, kind, at, meta_text)),
                        },
                    )
                row = _key_row(db, name)
            assert row is not None
        if row[1] != kind:
            raise MasterKeyError(
                f"the key store's key {name} is a {row[1]} key, not a {kind} key",
                "the key store was altered: restore it from a backup",
            )
        return _unseal_key(master, row)

    @contextmanager
    def _writing(self, exclusive: bool = False, scrub: bool = False) -> Iterator[Connection]:
        """A write transaction that creating a key and rotating the master key take in turn."""
        with self.store.engine.connect() as db:
            if db.dialect.name == "sqlite":
                if scrub:
                    db.exec_driver_sql("PRAGMA secure_delete = ON")
                db.exec_driver_sql("BEGIN IMMEDIATE")
            elif db.dialect.name == "postgresql":
                share = "UPDATE" if exclusive else "SHARE"
                db.execute(sa.text(f"SELECT id FROM weir_master WHERE id = 1 FOR {share}"))
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()


def _given(value: bytes) -> Callable[[Connection], tuple[dict[str, Any], bytes]]:
    return lambda _db: ({"adopted": True}, value)


def _still_current(db: Connection, master: MasterKey) -> None:
    """Refuse to write under ``master`` once the store was rotated to another master key."""
    current = _master_row(db)
    assert current is not None
    if current[0] != master.key_id:
        raise MasterKeyError(
            f"the master key was rotated while this process ran ({master.source} "
            f"is master key {master.key_id}, the store is now {current[0]})",
            f"restart it with {MASTER_KEY} or {MASTER_KEY_FILE} set to the new key",
        )


def _master_row(db: Connection) -> Sequence[Any] | None:
    return db.execute(sa.text("SELECT key_id, nonce, sealed FROM weir_master WHERE id = 1")).first()


def _key_row(db: Connection, name: str) -> Sequence[Any] | None:
    return db.execute(
        sa.text(
            "SELECT name, kind, created_at, meta, nonce, sealed FROM weir_keys WHERE name = :n"
        ),
        {"n": name},
    ).first()


def _info(row: Sequence[Any]) -> KeyInfo:
    return KeyInfo(str(row[0]), row[1], float(row[2]), json.loads(row[3]))


def _associated(name: str, kind: str, created_at: float, meta: str) -> bytes:
    return json.dumps(["weir key", name, kind, float(created_at), meta]).encode("utf-8")


def _seal(master: MasterKey, value: bytes, associated: bytes) -> dict[str, str]:
    nonce = os.urandom(12)
    sealed = AESGCM(master.secret).encrypt(nonce, value, associated)
    return {"nonce": nonce.hex(), "sealed": base64.b64encode(sealed).decode("ascii")}


def _unseal(master: MasterKey, nonce: str, sealed: str, associated: bytes) -> bytes:
    return AESGCM(master.secret).decrypt(bytes.fromhex(nonce), base64.b64decode(sealed), associated)


def _unseal_key(master: MasterKey, row: Sequence[Any]) -> bytes:
    name, kind, created_at, meta, nonce, sealed = row
    try:
        return _unseal(master, nonce, sealed, _associated(name, kind, created_at, meta))
    except (InvalidTag, ValueError, binascii.Error):
        raise MasterKeyError(
            f"the key store's key {name} does not open under master key {master.key_id}: "
            "it, its name or its meta was altered",
            "restore the key store (the weir_keys table) from a backup",
        ) from None


def _check(given: MasterKey, row: Sequence[Any]) -> None:
    """The master key opens the store's check value, or a clear error says which key it needs."""
    stored_id, nonce, sealed = row
    if given.key_id != stored_id:
        raise MasterKeyError(
            f"the master key from {given.source} (id {given.key_id}) is not the one this "
            f"project's key store is sealed under (id {stored_id})",
            f"set {MASTER_KEY} or {MASTER_KEY_FILE} to master key {stored_id}; after a "
            "rotation it is the new key. See docs/keys.md, Recovery",
        )
    try:
        if _unseal(given, nonce, sealed, b"check") == _CHECK:
            return
    except (InvalidTag, ValueError, binascii.Error):
        pass
    raise MasterKeyError(
        f"the key store's check value does not open under master key {stored_id} "
        "(an AES-GCM tag failure): the store was altered",
        "restore the key store (the weir_master and weir_keys tables) from a backup",
    )
