"""Payment card data never passes the door in clear.

A column classified ``pci`` is replaced by a keyed token (HMAC-SHA256 of its
digits, so the same card gives the same token and still joins) and a
``<column>_last4`` column. Card numbers inside free text (``pii`` text fields
and the raw text of malformed records) are found by pattern plus the Luhn
check and replaced by ``[card ****1234]``. This runs before anything is
written: raw, quarantine, staging and logs only ever see tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence

import pyarrow as pa

from weir.engine import Session, ident, lit
from weir.metadata.keys import CARD_KEY, KeyStore

# A run of digit groups joined by single spaces or dashes: a card may sit inside one,
# next to other digits (an expiry "12/25", a quantity), so each run is searched group-wise.
_DIGIT_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
# What DuckDB looks for before a value reaches Python: 13 or more digits, maybe grouped.
SUSPECT = r"[0-9](?:[ -]?[0-9]){12,}"
_SUSPECTS_PER_BATCH = 100_000
_BLOCK = 64  # SHA-256 block size, for HMAC
_NOT_DIGIT = re.compile(r"[^0-9]")


class PaymentTokenizer:
    """Tokenises card numbers with the project's secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the tokenisation key must be at least 32 bytes")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()  # HMAC hashes a key longer than the block
        self._key = key
        padded = key.ljust(_BLOCK, b"\0")
        self._inner = bytes(b ^ 0x36 for b in padded).hex()
        self._outer = bytes(b ^ 0x5C for b in padded).hex()

    @classmethod
    def from_keys(cls, keys: KeyStore) -> PaymentTokenizer:
        """The project's tokenisation key, from its key store (made there on first use)."""
        return cls(keys.key(CARD_KEY, "card"))

    def token_sql(self, column: str) -> str:
        """DuckDB expression: the token of a column's value."""
        return self.token_of(f'"{column}"')

    def token_of(self, value: str) -> str:
        """DuckDB expression: HMAC-SHA256 of the value's digits (its text when it has none)."""
        digits = f"regexp_replace({value}, '[^0-9]', '', 'g')"
        message = f"encode(CASE WHEN {digits} <> '' THEN {digits} ELSE {value} END)"
        inner = f"unhex(sha256(unhex('{self._inner}') || {message}))"
        mac = f"sha256(unhex('{self._outer}') || {inner})"
        return f"CASE WHEN {value} IS NOT NULL THEN 'tok_' || left({mac}, 32) END"

    def token(self, value: str | None) -> str | None:
        """The token of one value, in Python: the same as ``token_of`` gives in DuckDB."""
        if value is None:
            return None
        digits = _NOT_DIGIT.sub("", value)
        message = (digits or value).encode("utf-8")
        return "tok_" + hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def protect_records(
        self,
        records: Sequence[dict[str, str | None]],
        cards: Sequence[str],
        free_text: Sequence[str] = (),
    ) -> None:
        """Protect records of text values in place, before any is written anywhere.

        Each card column becomes its token plus ``<column>_last4`` (as
        ``protect_sql`` does in DuckDB), and card numbers inside the
        ``free_text`` columns are redacted (``redact_cards``).
        """
        for record in records:
            for column in cards:
                value = record.get(column)
                record[f"{column}_last4"] = last4(value)
                record[column] = self.token(value)
            for column in free_text:
                text = record.get(column)
                if text is not None:
                    record[column] = redact_cards(text)

    def tokenise_raw_json(self, con: Session, table: str, columns: list[str]) -> None:
        """Tokenise card fields inside the JSON text of records kept whole (``_raw``).

        A record with an unknown field or from a file whose header did not match
        is kept as JSON text; its card field is replaced there too, whether or
        not the value looks like a card.
        """
        for column in columns:
            path = "'$.\"" + column + "\"'"
            value = f"json_extract_string(_raw, {path})"
            is_object = "CASE WHEN json_valid(_raw) THEN json_type(_raw) = 'OBJECT' ELSE false END"
            con.execute(
                f"UPDATE {table} SET _raw = json_merge_patch(_raw, json_object('{column}', {self.token_of(value)}))"
                f" WHERE _raw IS NOT NULL AND (CASE WHEN {is_object} THEN {value} IS NOT NULL ELSE false END)"
            )

    def protect_sql(self, columns: list[str]) -> Callable[[str], str]:
        """Wraps a SELECT so its card columns come out as tokens plus ``<column>_last4``."""

        def protect(select: str) -> str:
            if not columns:
                return select
            tokens = ", ".join(f'{self.token_sql(c)} AS "{c}"' for c in columns)
            last4 = ", ".join(f'{self.last4_sql(c)} AS "{c}_last4"' for c in columns)
            return f"SELECT * REPLACE ({tokens}), {last4} FROM ({select})"

        return protect

    @staticmethod
    def last4_sql(column: str) -> str:
        digits = f"regexp_replace(\"{column}\", '[^0-9]', '', 'g')"
        return f"CASE WHEN length({digits}) >= 4 THEN right({digits}, 4) END"


def last4(value: str | None) -> str | None:
    """A value's last four digits (None with fewer): ``last4_sql`` in Python."""
    if value is None:
        return None
    digits = _NOT_DIGIT.sub("", value)
    return digits[-4:] if len(digits) >= 4 else None


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
    """``text`` with every Luhn-valid card number replaced by ``[card ****NNNN]``.

    A card is 13 to 19 digits, written whole or in groups joined by single spaces or
    dashes, whose first digit is 2 to 6 (the card networks' numbers); within a longer run
    of groups, the longest Luhn-valid stretch of whole groups is taken, from the left. A run
    written after a ``+`` is an international phone number (``+353 83 1378 5597``), never
    a card: one long number in ten passes the Luhn check by chance.
    """
    return _DIGIT_RUN.sub(
        lambda match: _redact_run(
            match.group(0), phone=text[match.start() - 1 : match.start()] == "+"
        ),
        text,
    )


def _redact_run(run: str, phone: bool = False) -> str:
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    out, done, first = [], 0, 0
    while first < len(groups):
        found, digits = None, ""
        for last in range(first, len(groups)):
            digits += run[groups[last][0] : groups[last][1]]
            if len(digits) > 19 or not "2" <= digits[0] <= "6" or (phone and first == 0):
                break
            if len(digits) >= 13 and luhn_valid(digits):
                found = last, digits  # go on: the longest valid stretch wins
        if found is None:
            first += 1
            continue
        last, digits = found
        out += [run[done : groups[first][0]], f"[card ****{digits[-4:]}]"]
        done = groups[last][1]
        first = last + 1
    return "".join(out) + run[done:]


def redact_cards_in_table(con: Session, table: str, columns: list[str]) -> int:
    """Redact card numbers in free-text ``columns`` of a DuckDB table; returns values changed.

    DuckDB finds the values holding a long run of digits; only those reach Python, a
    batch of rows at a time (one ingest can hold millions of them, e.g. long phone numbers in
    a customer extract), and only the values that change are kept.
    """
    changed = 0
    for column in columns:
        quoted = ident(column)
        suspects = con.arrow_batches(
            f"SELECT rowid AS rid, {quoted} AS text FROM {table}"
            f" WHERE regexp_matches({quoted}, {lit(SUSPECT)})",
            _SUSPECTS_PER_BATCH,
        )
        fixes: list[tuple[int, str]] = []
        for batch in suspects:
            rids, texts = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for rid, text in zip(rids, texts, strict=True):
                fixed = redact_cards(text)
                if fixed != text:
                    fixes.append((rid, fixed))
        if not fixes:
            continue
        con.register(
            "weir_redactions",
            pa.table({"rid": [r for r, _ in fixes], "text": [t for _, t in fixes]}),
        )
        try:
            con.execute(
                f"UPDATE {table} SET {quoted} = weir_redactions.text FROM weir_redactions "
                f"WHERE {table}.rowid = weir_redactions.rid"
            )
        finally:
            con.unregister("weir_redactions")
        changed += len(fixes)
    return changed
