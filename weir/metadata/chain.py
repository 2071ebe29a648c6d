"""How an audit record is signed, and the walk that checks a chain of them.

Records of the older chain carry ``hash`` = sha256 over a canonical JSON of
their fields and ``prev_hash``; anyone can recompute it. Records of the keyed
chain carry ``hash`` = HMAC-SHA256 under the project's audit key (from the key
store) over the same fields, with the SQL as its template and, in place of each
literal, that literal's own HMAC (``literals``). Without the master key nobody
can make a record that verifies, and a literal can be erased (its row deleted)
while the record that held it still verifies.

Where the keyed chain starts is the audit key's ``chain_from``, sealed with the
key under the master key: a record from there on that claims to be of the older
chain is an altered one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from weir.metadata.literals import placeholders
from weir.metadata.records import AuditRecord

GENESIS = "0" * 64  # the prev_hash of the first record


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(fields: dict[str, Any]) -> str:
    """The older chain's hash: sha256 of the record's canonical fields."""
    return hashlib.sha256(_canonical(fields)).hexdigest()


def record_mac(key: bytes, fields: dict[str, Any]) -> str:
    """The keyed chain's hash: HMAC-SHA256 of the record's canonical fields."""
    return hmac.new(key, b"weir audit record\x00" + _canonical(fields), hashlib.sha256).hexdigest()


def literal_mac(key: bytes, seq: int, index: int, value: str) -> str:
    """One literal's HMAC, bound to its record and place (it cannot be moved to another)."""
    message = b"weir audit literal\x00" + _canonical({"seq": seq, "index": index, "value": value})
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass
class ChainWalk:
    """Checks records oldest first; ``check`` names the first problem of a record."""

    key: bytes | None  # the audit key; None: the store has none, so no record may be keyed
    chain_from: int | None  # the first record of the keyed chain
    prev: str = GENESIS
    missing: set[tuple[int, int]] = field(default_factory=set)  # literals not in the database
    erased: set[tuple[int, int]] = field(default_factory=set)  # literals an erasure removed

    def check(self, record: AuditRecord, values: Mapping[int, str]) -> str | None:
        seq = record.seq
        if record.prev_hash != self.prev:
            return f"record {seq - 1} was altered or replaced (record {seq} chains to another hash)"
        keyed_here = self.chain_from is not None and seq >= self.chain_from
        if record.literals is None:
            if keyed_here:
                return (
                    f"record {seq} was altered (it is unsigned, and the log is signed "
                    f"with the audit key from record {self.chain_from} on)"
                )
            if record_hash(record.fields()) != record.hash:
                return f"record {seq} was altered (its hash does not match)"
        else:
            if self.key is None or not keyed_here:
                return f"record {seq} was altered (it is signed where the log is not)"
            template = record.template or ""
            if placeholders(template) != len(record.literals) or not hmac.compare_digest(
                record_mac(self.key, record.fields()), record.hash
            ):
                return f"record {seq} was altered (its signature does not match)"
            for index, value in values.items():
                if index >= len(record.literals) or not hmac.compare_digest(
                    literal_mac(self.key, seq, index, value), record.literals[index]
                ):
                    return f"record {seq} was altered (its literal {index} does not match)"
            self.missing.update((seq, i) for i in range(len(record.literals)) if i not in values)
            if record.entry.kind == "audit.erase" and record.entry.detail:
                self.erased.update((int(s), int(i)) for s, i in record.entry.detail["erased"])
        self.prev = record.hash
        return None

    def unaccounted(self) -> tuple[int, int] | None:
        """The first literal removed without an erasure on the record, if any."""
        left = sorted(self.missing - self.erased)
        return left[0] if left else None
