"""Payment cards never reach storage in clear: tokens in DuckDB, redaction in free text."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import (
    AMEX,
    MASTERCARD,
    POS_HEADER,
    VISA,
    assert_counts,
    crm_event,
    files_under,
    ingest_one,
    jsonl,
    land,
    pos_csv,
    pos_line,
    rows,
    spaced,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import weir
from weir.engine import DuckDBEngine
from weir.ingest import PaymentTokenizer
from weir.ingest.pci import luhn_valid, redact_cards, redact_cards_in_table
from weir.metadata import MetadataStore
from weir.metadata.keys import KeyStore
from weir.metadata.store import sqlite_url

KEY = bytes(range(32))


def python_token(key: bytes, card: str) -> str:
    digits = re.sub(r"[^0-9]", "", card)
    return "tok_" + hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()[:32]


def duckdb_tokens(tokenizer: PaymentTokenizer, values: list[str | None]) -> list[str | None]:
    with duckdb.connect() as con:
        con.register("cards", pa.table({"card": pa.array(values, pa.string())}))
        sql = f"SELECT {tokenizer.token_sql('card')} AS token, {PaymentTokenizer.last4_sql('card')} AS last4 FROM cards"
        return con.sql(sql).to_arrow_table()["token"].to_pylist()


def with_check_digit(body: str) -> str:
    """``body`` plus the digit that makes it pass the Luhn check."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


# -- tokens ------------------------------------------------------------------------------------
def test_duckdb_token_is_python_hmac_sha256() -> None:
    tokenizer = PaymentTokenizer(KEY)
    assert duckdb_tokens(tokenizer, [VISA, MASTERCARD, AMEX, None]) == [
        python_token(KEY, VISA),
        python_token(KEY, MASTERCARD),
        python_token(KEY, AMEX),
        None,
    ]
    assert python_token(KEY, VISA).startswith("tok_") and len(python_token(KEY, VISA)) == 36


def test_spacing_and_dashes_give_the_same_token() -> None:
    tokenizer = PaymentTokenizer(KEY)
    forms = [VISA, spaced(VISA), "4111-1111-1111-1111", " 4111 1111-1111 1111 "]
    assert set(duckdb_tokens(tokenizer, forms)) == {python_token(KEY, VISA)}


def test_a_different_key_gives_a_different_token() -> None:
    [one] = duckdb_tokens(PaymentTokenizer(KEY), [VISA])
    [other] = duckdb_tokens(PaymentTokenizer(bytes(reversed(KEY))), [VISA])
    assert one != other


def test_a_value_without_digits_is_tokenised_by_its_text() -> None:
    [token] = duckdb_tokens(PaymentTokenizer(KEY), ["n/a"])
    assert token == "tok_" + hmac.new(KEY, b"n/a", hashlib.sha256).hexdigest()[:32]


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        PaymentTokenizer(b"short")


@settings(max_examples=25, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=160),
    cards=st.lists(
        st.from_regex(r"[0-9]([ -]?[0-9]){12,18}", fullmatch=True), min_size=1, max_size=8
    ),
)
def test_token_matches_python_hmac_for_any_key_and_card(key: bytes, cards: list[str]) -> None:
    assert duckdb_tokens(PaymentTokenizer(key), cards) == [python_token(key, c) for c in cards]


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=100),
    values=st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=30),
            st.from_regex(r"[0-9]([ -]?[0-9]){12,18}", fullmatch=True),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_records_protected_in_python_get_duckdbs_tokens_and_last4(
    key: bytes, values: list[str | None]
) -> None:
    """A database extract's chunks are protected in Python before they are written: the
    tokens and last four digits are exactly those the file path computes in DuckDB."""
    assume(all(v is None or "\x00" not in v for v in values))
    tokenizer = PaymentTokenizer(key)
    with duckdb.connect() as con:
        con.register("cards", pa.table({"card": pa.array(values, pa.string())}))
        got = con.sql(
            f"SELECT {tokenizer.token_sql('card')}, {PaymentTokenizer.last4_sql('card')} FROM cards"
        ).fetchall()
    records: list[dict[str, str | None]] = [{"card": v, "note": v} for v in values]
    tokenizer.protect_records(records, ["card"], ["note"])
    assert [(r["card"], r["card_last4"]) for r in records] == [tuple(row) for row in got]
    assert [r["note"] for r in records] == [None if v is None else redact_cards(v) for v in values]


def test_last4() -> None:
    with duckdb.connect() as con:
        con.register("cards", pa.table({"card": [spaced(VISA), "5555-5555-5555-4444", "12", None]}))
        got = con.sql(f"SELECT {PaymentTokenizer.last4_sql('card')} FROM cards").fetchall()
    assert [row[0] for row in got] == ["1111", "4444", None, None]


def test_key_is_created_once_in_the_key_store_and_never_in_clear(tmp_path: Path) -> None:
    store = MetadataStore(sqlite_url(tmp_path / "catalog.db"))
    first = PaymentTokenizer.from_keys(KeyStore(store, (tmp_path,)))
    second = PaymentTokenizer.from_keys(KeyStore(store, (tmp_path,)))  # another process
    assert duckdb_tokens(first, [VISA]) == duckdb_tokens(second, [VISA])
    [card] = KeyStore(store, (tmp_path,)).info("card").keys
    assert card.name == "card" and card.meta == {}
    assert not (tmp_path / "keys").exists()


# -- Luhn and redaction ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "number", [VISA, MASTERCARD, AMEX, "4012888888881881", "6011111111111117", "79927398713"]
)
def test_luhn_accepts_valid_numbers(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number", ["4111111111111112", "5555555555554443", "79927398710", "1234567812345678"]
)
def test_luhn_rejects_invalid_numbers(number: str) -> None:
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"my card is {spaced(VISA)}, please call", "my card is [card ****1111], please call"),
        (f"card {VISA}", "card [card ****1111]"),
        ("pay with 5555-5555-5555-4444.", "pay with [card ****4444]."),
        (f"amex {AMEX} thanks", "amex [card ****0005] thanks"),
        # next to other digits: an expiry after it, a quantity before it
        (f"{spaced(VISA)} 12/27", "[card ****1111] 12/27"),
        (f"{spaced(VISA)} 12 27", "[card ****1111] 12 27"),
        (f"qty 2 {spaced(VISA)}", "qty 2 [card ****1111]"),
        (f"two cards: {VISA} and {MASTERCARD}", "two cards: [card ****1111] and [card ****4444]"),
    ],
)
def test_redact_cards(text: str, expected: str) -> None:
    assert redact_cards(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "invalid Luhn 4111 1111 1111 1112 is kept",
        "write to ada@example.com or call +44 20 7946 0958",
        "order 20250101 of 3 items, ref 1234-5678",
        "a long id 41111111111111110000 is not a card",
        "",
    ],
)
def test_text_without_a_card_is_kept(text: str) -> None:
    assert redact_cards(text) == text


def test_redact_cards_in_a_duckdb_table() -> None:
    with DuckDBEngine().writer() as con:
        con.execute("CREATE TABLE notes (a VARCHAR, b VARCHAR)")
        con.execute(
            "INSERT INTO notes VALUES (?, 'x'), (NULL, ?), ('no card here', NULL), (?, ?)",
            [f"card {VISA}", spaced(MASTERCARD), "4111 1111 1111 1112", f"{AMEX}!"],
        )
        assert redact_cards_in_table(con, "notes", ["a", "b"]) == 3
        assert con.execute("SELECT a, b FROM notes ORDER BY rowid").fetchall() == [
            ("card [card ****1111]", "x"),
            (None, "[card ****4444]"),
            ("no card here", None),
            ("4111 1111 1111 1112", "[card ****0005]!"),
        ]


def test_redacting_a_table_of_many_suspects_reads_them_a_batch_at_a_time() -> None:
    """250,000 German phone numbers (+49, 13 digits: every tenth passes the Luhn check by
    chance) and three cards among them, past the first batch of suspects: exactly the cards
    change; no phone number is taken for a card."""
    with DuckDBEngine().writer() as con:
        con.execute(
            "CREATE TABLE raw AS SELECT i, '{\"phone\": \"+49 1512 ' || lpad(i::VARCHAR, 7, '0')"
            " || '\"}' AS _raw FROM range(250000) r(i)"
        )
        phones = dict(con.execute("SELECT i, _raw FROM raw").fetchall())
        lucky = sum(1 for text in phones.values() if luhn_valid(re.sub(r"[^0-9]", "", text)))
        assert lucky > 20_000  # the numbers a Luhn check alone would take for cards
        cards = {120000, 180000, 249999}
        con.execute(
            "UPDATE raw SET _raw = 'paid with ' || ? WHERE i IN (120000, 180000, 249999)",
            [spaced(VISA)],
        )
        changed = redact_cards_in_table(con, "raw", ["_raw"])
        after = dict(con.execute("SELECT i, _raw FROM raw").fetchall())
    assert changed == len(cards)
    assert {i: after[i] for i in cards} == dict.fromkeys(cards, "paid with [card ****1111]")
    assert all(after[i] == text for i, text in phones.items() if i not in cards)


def test_a_phone_number_is_never_taken_for_a_card() -> None:
    """International numbers (after a +) and numbers starting with 0, 1, 7, 8 or 9 are not
    cards, even when their digits pass the Luhn check; a card beside them still is."""
    irish = "+353 83 1378 5590"  # 13 digits, Luhn-valid
    for number in (irish, "0049 1512 3456 7893", "7992739871312342"):
        assert luhn_valid(re.sub(r"[^0-9]", "", number))
    assert redact_cards(f"call {irish}") == f"call {irish}"
    assert redact_cards("0049 1512 3456 7893") == "0049 1512 3456 7893"
    assert redact_cards("7992739871312342") == "7992739871312342"
    assert redact_cards(f"call {irish} or pay {VISA}") == f"call {irish} or pay [card ****1111]"


CARD_BODIES = st.sampled_from(["4", "51", "37", "6011"]).flatmap(
    lambda prefix: st.text(
        alphabet="0123456789", min_size=15 - len(prefix), max_size=15 - len(prefix)
    ).map(lambda rest: prefix + rest)
)
AROUND = st.text(alphabet="ab :/.@\n-0123456789", max_size=24)


@settings(max_examples=200, deadline=None)
@given(
    body=CARD_BODIES,
    style=st.sampled_from(["plain", "spaced", "dashed"]),
    before=AROUND,
    after=AROUND,
)
def test_a_valid_card_never_survives_redaction(
    body: str, style: str, before: str, after: str
) -> None:
    card = with_check_digit(body)
    written = {"plain": card, "spaced": spaced(card), "dashed": spaced(card).replace(" ", "-")}[
        style
    ]
    # a card glued to other digits is a longer number, not a card
    assume(not before[-1:].isdigit() and not after[:1].isdigit())
    assume(card not in before + after)
    redacted = redact_cards(before + written + after)
    assert written not in redacted
    assert card not in redacted
    assert (
        "[card ****" in redacted
    )  # (a valid stretch longer than the card may be what is redacted)


# -- nothing under .weir holds a card ----------------------------------------------------------
def avro_payload(data: bytes) -> bytes:
    """The decompressed blocks of an Avro object container file (Iceberg manifests)."""
    stream = io.BytesIO(data)

    def long() -> int:
        shift = result = 0
        while True:
            byte = stream.read(1)[0]
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)

    assert stream.read(4) == b"Obj\x01"
    meta = {}
    while (count := long()) != 0:
        for _ in range(abs(count)):
            if count < 0:
                long()
            key = stream.read(long()).decode()
            meta[key] = stream.read(long())
    stream.read(16)
    codec = meta.get("avro.codec", b"null")
    out = []
    while stream.tell() < len(data):
        long()
        block = stream.read(long())
        out.append(zlib.decompress(block, -15) if codec == b"deflate" else block)
        stream.read(16)
    assert codec in (b"null", b"deflate"), codec
    return b"".join(out)


def readable_bytes(path: Path) -> bytes:
    """A file's bytes, plus its content decompressed where the format compresses it."""
    data = path.read_bytes()
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        values = json.dumps(table.to_pylist(), default=str)
        metadata = pq.read_metadata(path)
        stats = [
            str(metadata.row_group(g).column(c).statistics)
            for g in range(metadata.num_row_groups)
            for c in range(metadata.num_columns)
        ]
        return data + values.encode() + "".join(stats).encode()
    if path.suffix == ".avro":
        return data + avro_payload(data)
    return data


@pytest.fixture
def unsealed(project_root: Path) -> Iterator[weir.Project]:
    """The example project with its personal data not sealed: the scan below reads it in clear,
    so it proves the cards were redacted, not that they were encrypted."""
    path = project_root / "weir.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["privacy"]["encrypt_pii"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with weir.Project(project_root) as opened:
        yield opened


def test_no_card_number_is_stored_anywhere(project_root: Path, unsealed: weir.Project) -> None:
    project = unsealed
    discover = "6011111111111117"  # written with an expiry right after it
    pos_cards = [VISA, MASTERCARD, AMEX, "4012888888881881", "5105105105105100"]
    crm_cards = ["4222222222222", "3566002020360505", discover, "6011000990139424"]
    kept = "4111 1111 1111 1112"  # fails Luhn: not a card, stored as written (proves the scan sees data)

    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("t1", card_number=VISA),
            pos_line("t2", card_number=spaced(MASTERCARD)),
            "t3,1,10,1,9.99,,1735732800,," + spaced(AMEX) + ",extra",  # too many fields
            "t4,1," + "4012888888881881",  # too few fields
        ),
    )
    renamed = POS_HEADER.replace("card_number", "card_no")
    land(
        project_root,
        "pos",
        "pos_2025-01-02_store001.csv",
        pos_csv(
            pos_line("t5", card_number="5105-1051-0510-5100"),
            header=renamed,
        ),
    )
    land(
        project_root,
        "crm_interactions",
        "crm_2025-01-01T10.jsonl",
        jsonl(
            crm_event("e1", message_excerpt=f"please charge {spaced('4222222222222')} again"),
            crm_event("e2", message_excerpt=f"card {crm_cards[1]}, mail ada@example.com", rating=9),
            crm_event("e3", message_excerpt=f"new card {spaced(discover)} 12/27"),
            '{"event_id": "e4", "message_excerpt": "6011 0009 9013 9424", ',  # malformed line
            crm_event("e5", message_excerpt=f"reference {kept}"),
        ),
    )
    assert_counts(ingest_one(project, "pos"), received=5, accepted=2, quarantined=3, duplicates=0)
    assert_counts(
        ingest_one(project, "crm_interactions"), received=5, accepted=3, quarantined=2, duplicates=0
    )

    # tokens and last four digits are what is kept
    assert rows(
        project, "SELECT transaction_id, card_number_last4 FROM staging.pos ORDER BY 1"
    ) == [
        {"transaction_id": "t1", "card_number_last4": "1111"},
        {"transaction_id": "t2", "card_number_last4": "4444"},
    ]
    assert rows(project, "SELECT card_number FROM staging.pos ORDER BY transaction_id") == [
        {"card_number": python_token(project.keys.key("card", "card"), c)}
        for c in (VISA, MASTERCARD)
    ]
    assert rows(
        project, "SELECT message_excerpt FROM staging.crm_interactions ORDER BY event_id"
    ) == [
        {"message_excerpt": "please charge [card ****2222] again"},
        {"message_excerpt": "new card [card ****1117] 12/27"},
        {"message_excerpt": f"reference {kept}"},
    ]

    stored = files_under(project.files.state_dir)
    assert any(p.suffix == ".parquet" for p in stored) and any(p.suffix == ".avro" for p in stored)
    contents = {path: readable_bytes(path) for path in stored}
    # the manifests' compressed blocks are read too: they name the data files
    assert any(b".parquet" in avro_payload(p.read_bytes()) for p in stored if p.suffix == ".avro")
    assert any(kept.encode() in data for data in contents.values()), (
        "the scan must see stored values"
    )
    for card in pos_cards + crm_cards:
        forms = {card, spaced(card), spaced(card).replace(" ", "-")}
        for path, data in contents.items():
            for form in forms:
                assert form.encode() not in data, f"{form} found in {path}"
