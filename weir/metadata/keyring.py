"""The key store as its operator works with it: what it holds, and rotating its master key.

Rotating is recorded on the audit log (``keys.rotate``: the old and new master
key ids and how many keys were re-sealed), after the store's transaction
commits; the key values do not change, so masks, card tokens and the audit
chain read the same before and after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.metadata.keys import KeyStore, Rotation, StoreInfo
from weir.metadata.master import new_master_key


class KeyRing:
    """Lists the key store and rotates its master key, on the record."""

    def __init__(self, keys: KeyStore, audit: AuditLog) -> None:
        self.keys = keys
        self.audit = audit

    def info(self, kind: str | None = None) -> StoreInfo:
        """The master key id and every key's name, kind, creation time and meta (no values)."""
        self.keys.master()  # a store whose master key is missing or wrong says so first
        return self.keys.info(kind)

    def rotate_master(
        self, new_key_file: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> Rotation:
        """Re-seal every key under a new master key (``new_key_file``, else the environment's).

        Afterwards the project opens with the new key only: point ``WEIR_MASTER_KEY_FILE``
        (or ``WEIR_MASTER_KEY``) at it.
        """
        new = new_master_key(
            new_key_file, os.environ if environ is None else environ, self.keys.project
        )
        rotation = self.keys.rotate_master(new)
        self.audit.append(
            AuditEntry(
                "keys.rotate",
                f"rotate the master key {rotation.old_key_id} → {rotation.new_key_id}",
                operator(),
                rows=rotation.keys,
                detail={
                    "old_key_id": rotation.old_key_id,
                    "new_key_id": rotation.new_key_id,
                    "source": new.source,
                },
            )
        )
        return rotation
