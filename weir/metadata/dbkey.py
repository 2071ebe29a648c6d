"""The key of an encrypted metadata database: SQLCipher, its key sealed under the master key.

With ``encryption: {at_rest: true}`` the project's own SQLite database (the
metadata, the Iceberg catalog, the key store, the audit log) is a SQLCipher
file: every page is encrypted (AES-256, with an HMAC per page), so no byte of
it is readable without its key. That key is 32 random bytes, sealed
(AES-256-GCM) under the master key in a small file beside the database
(``catalog.key``), since the key store that holds every other key is inside
the database it opens.

The file holds one sealed copy per master key id. Rotating the master key
adds the copy under the new key before the key store is re-sealed and drops
the old one after, so a crash in between leaves a database that opens with
either key, like the store itself.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from weir.metadata.master import KEY_BYTES, MasterKey, MasterKeyError

KEY_FILE = "catalog.key"
_ASSOCIATED = b"weir metadata database key"


def sqlcipher_url(path: Path, key: bytes) -> str:
    """The SQLAlchemy URL of the SQLCipher database ``path`` opened with ``key`` (a raw key)."""
    # the passphrase is the key itself (``x'…'``): SQLCipher derives no key from it
    passphrase = quote(f"x'{key.hex()}'", safe="")
    url = f"sqlite+pysqlcipher://:{passphrase}@/{path}"
    assert sa.make_url(url).database == str(path)
    return url


class DatabaseKey:
    """The sealed key file of one encrypted database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def open(self, master: MasterKey) -> bytes:
        """The database key, unsealed with ``master``; made (and sealed) if there is none yet."""
        copies = self._read()
        if not copies:
            key = os.urandom(KEY_BYTES)
            self._write({master.key_id: _seal(master, key)})
            return key
        sealed = copies.get(master.key_id)
        if sealed is None:
            raise MasterKeyError(
                f"the metadata database is encrypted under master key "
                f"{' or '.join(sorted(copies))}, not {master.key_id} ({master.source})",
                "set WEIR_MASTER_KEY or WEIR_MASTER_KEY_FILE to the project's master key",
            )
        return _unseal(master, sealed, self.path)

    def add(self, old: MasterKey, new: MasterKey) -> None:
        """Seal the key under ``new`` as well (before the key store moves to it)."""
        copies = self._read()
        key = self.open(old)
        self._write({**copies, new.key_id: _seal(new, key)})

    def keep_only(self, master: MasterKey) -> None:
        """Drop every copy but the one under ``master`` (after the key store moved to it)."""
        copies = self._read()
        if master.key_id in copies:
            self._write({master.key_id: copies[master.key_id]})

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise MasterKeyError(
                f"cannot read the metadata database's key file {self.path}: {exc}",
                "restore it from the backup taken with the database: without it the database "
                "cannot be opened",
            ) from None
        return {str(k): dict(v) for k, v in document.get("sealed", {}).items()}

    def _write(self, copies: dict[str, dict[str, str]]) -> None:
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"format": 1, "sealed": copies}, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def _seal(master: MasterKey, key: bytes) -> dict[str, str]:
    nonce = os.urandom(12)
    sealed = AESGCM(master.secret).encrypt(nonce, key, _ASSOCIATED)
    return {"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}


def _unseal(master: MasterKey, sealed: dict[str, str], path: Path) -> bytes:
    try:
        return AESGCM(master.secret).decrypt(
            base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["sealed"]), _ASSOCIATED
        )
    except (InvalidTag, KeyError, ValueError):
        raise MasterKeyError(
            f"the metadata database's key in {path} does not open with master key {master.key_id}",
            "the file was changed: restore it from the backup taken with the database",
        ) from None
