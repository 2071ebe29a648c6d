"""The detector of personal and card data: check digits decide, every generated case holds.

Hypothesis draws valid card numbers (network prefixes 2-6, 13 to 19 digits,
the Luhn digit computed) and valid IBANs (a country, a BBAN, the mod-97
check digits computed): each is found, written plain or in groups, alone or
inside a sentence. The same numbers with any other check digit are not
cards or IBANs. E-mail addresses are found wherever they sit in free text.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.governance.detect import confidence, covered, iban_ok, kinds_in, luhn_ok
from weir.governance.scan import count_kinds


def luhn_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    return next(d for d in "0123456789" if luhn_ok(body + d))


cards = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("23456"),
    st.integers(11, 17).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)),
).filter(lambda body: len(set(body)) > 1)


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


@settings(max_examples=300, deadline=None)
@given(cards, st.booleans(), st.sampled_from(["{}", "paid with {} yesterday", "card: {}."]))
def test_every_valid_card_number_is_found(body: str, spaced: bool, frame: str) -> None:
    number = body + luhn_digit(body)
    assert luhn_ok(number)
    text = frame.format(grouped(number) if spaced else number)
    assert "card" in kinds_in(text)


@settings(max_examples=300, deadline=None)
@given(cards, st.integers(1, 9))
def test_a_wrong_check_digit_is_no_card(body: str, off: int) -> None:
    wrong = str((int(luhn_digit(body)) + off) % 10)
    assert not luhn_ok(body + wrong)
    assert "card" not in kinds_in(body + wrong)
    assert "card" not in kinds_in(grouped(body + wrong))


def iban(country: str, bban: str) -> str:
    """The IBAN of ``country`` and ``bban`` with its mod-97 check digits (ISO 13616)."""
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


countries = st.text(string.ascii_uppercase, min_size=2, max_size=2)
bbans = st.integers(11, 30).flatmap(
    lambda n: st.text(string.digits + string.ascii_uppercase, min_size=n, max_size=n)
)


@settings(max_examples=300, deadline=None)
@given(countries, bbans, st.booleans())
def test_every_valid_iban_is_found(country: str, bban: str, spaced: bool) -> None:
    number = iban(country, bban)
    assert iban_ok(number)
    text = grouped(number) if spaced else number
    assert "iban" in kinds_in(f"transfer to {text} please")


@settings(max_examples=300, deadline=None)
@given(countries, bbans, st.integers(1, 96))
def test_a_wrong_iban_check_is_no_iban(country: str, bban: str, off: int) -> None:
    good = iban(country, bban)
    check = (int(good[2:4]) + off) % 97
    bad = f"{country}{check:02d}{bban}"
    assert not iban_ok(bad)
    assert "iban" not in kinds_in(bad)


emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(string.ascii_lowercase + string.digits + "._+-", min_size=1, max_size=20).filter(
        lambda s: s[0].isalnum()
    ),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=15),
    st.sampled_from(["com", "org", "net", "co", "example", "io"]),
)


@settings(max_examples=200, deadline=None)
@given(emails, st.text(string.ascii_letters + " ,", max_size=40))
def test_an_email_is_found_anywhere_in_free_text(email: str, around: str) -> None:
    assert "email" in kinds_in(f"{around} {email} {around}")


@settings(max_examples=300, deadline=None)
@given(st.text(string.digits, min_size=1, max_size=12))
def test_a_bare_number_is_no_personal_data(digits: str) -> None:
    # an id, a count, an epoch: twelve digits or fewer look like nothing
    assert kinds_in(digits) == frozenset()


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Please reply to ann.lee@example.com", {"email"}),
        ("4111 1111 1111 1111", {"card"}),
        ("DE89 3704 0044 0532 0130 00", {"iban"}),  # its digits are no phone number
        ("GB82WEST12345698765432", {"iban"}),
        ("10.0.0.1", {"ip"}),
        ("2001:db8::1", {"ip"}),
        ("192.168.1.300", set()),
        ("+44 20 7946 0958", {"phone"}),
        ("(555) 123-4567", {"phone"}),
        ("020 7946 0958", {"phone"}),
        ("01-12-2026", set()),
        ("2026-12-01 10:00:00", set()),
        ("12 Baker Street", {"address"}),
        ("7 Albion Street, Leeds, LS2 8JS", {"address"}),
        ("4 rue de la Paix", {"address"}),
        ("Hauptstraße 5", {"address"}),
        ("ORD-2026-000123", set()),
        ("3.14159", set()),
        ("Great product, 5 stars", set()),
    ],
)
def test_what_values_look_like(text: str, kinds: set[str]) -> None:
    assert set(kinds_in(text)) == kinds


def test_confidence_and_what_a_classification_covers() -> None:
    # weight * (1 - 0.5 ** matches): one e-mail 0.95 * 0.5, three 0.95 * 0.875
    assert confidence("email", 1) == 0.475
    assert confidence("email", 3) == 0.831
    assert confidence("phone", 2) == 0.45
    assert confidence("card", 0) == 0.0
    assert covered("email", "pii") and not covered("card", "pii")
    assert covered("card", "pci") and not covered("email", "pci")
    assert not covered("ip", None)


def test_long_ids_passing_luhn_by_chance_are_no_card_column() -> None:
    # 16-digit ids: about one in ten passes the Luhn check by chance, so the column is no card
    # column; a column whose card-shaped values mostly pass it is
    ids = [str(4_000_000_000_000_000 + 7919 * i) for i in range(200)]
    passing = sum(luhn_ok(i) for i in ids)
    assert 0 < passing < 100
    assert "card" not in count_kinds(ids)
    cards = [body + luhn_digit(body) for body in ids[:50]]
    assert count_kinds(cards + ids[:40])["card"] >= 50
    assert "card" not in kinds_in("W20261203-000001")  # an order number with a date in it
