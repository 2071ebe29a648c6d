"""Payment card data never passes the door in clear.

A column classified ``pci`` is replaced by a keyed token (HMAC-SHA256 of its
digits, so the same card gives the same token and still joins) and a
``<column>_last4`` column. Card numbers inside free text (``pii`` text fields
and the raw text of malformed records) are found by pattern plus the Luhn
check and replaced by ``[card ****1234]``. This runs before anything is
written: raw, quarantine, staging and logs only ever see tokens.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

CARD_CANDIDATE = r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])"
_CARD_RE = re.compile(CARD_CANDIDATE)
_BLOCK = 64  # SHA-256 block size, for HMAC


class PaymentTokenizer:
    """Tokenises card numbers with the project's secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the tokenisation key must be at least 32 bytes")
        padded = key.ljust(_BLOCK, b"\0") if len(key) <= _BLOCK else key
        self._inner = bytes(b ^ 0x36 for b in padded).hex()
        self._outer = bytes(b ^ 0x5C for b in padded).hex()

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> PaymentTokenizer:
        """The project's key, created on first use and readable by its owner only."""
        path = state_dir / "keys" / "pci.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
        return cls(path.read_bytes())

    def token_sql(self, column: str) -> str:
        """DuckDB expression: HMAC-SHA256 of the value's digits (its text when it has none)."""
        digits = f"regexp_replace(\"{column}\", '[^0-9]', '', 'g')"
        message = f"encode(CASE WHEN {digits} <> '' THEN {digits} ELSE \"{column}\" END)"
        inner = f"unhex(sha256(unhex('{self._inner}') || {message}))"
        mac = f"sha256(unhex('{self._outer}') || {inner})"
        return f"CASE WHEN \"{column}\" IS NOT NULL THEN 'tok_' || left({mac}, 32) END"

    @staticmethod
    def last4_sql(column: str) -> str:
        digits = f"regexp_replace(\"{column}\", '[^0-9]', '', 'g')"
        return f"CASE WHEN length({digits}) >= 4 THEN right({digits}, 4) END"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def redact_cards(text: str) -> str:
    """``text`` with every Luhn-valid card number replaced by ``[card ****NNNN]``."""

    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", match.group(0))
        return f"[card ****{digits[-4:]}]" if luhn_valid(digits) else match.group(0)

    return _CARD_RE.sub(replace, text)


def redact_cards_in(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Vectorised filter, Python only on the few values that hold a long run of digits."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(array) == 0:
        return array
    suspect = pc.fill_null(pc.match_substring_regex(array, r"[0-9](?:[ -]?[0-9]){12,18}"), False)
    if not pc.any(suspect).as_py():
        return array
    values = array.to_pylist()
    for index in pc.indices_nonzero(suspect).to_pylist():
        values[index] = redact_cards(values[index])
    return pa.array(values, pa.string())
