"""What a value looks like: personal or card data found in a piece of text, by kind.

The catalog scan (``weir.governance.scan``) asks ``kinds_in`` of every sampled
value. Each kind is a pattern, and for card numbers and IBANs a check digit
too, so that an order number or a long id is not taken for one:

- ``email``: ``local@domain.tld`` anywhere in the text (a sentence, a URL);
- ``card``: 13 to 19 digits (in groups of digits, spaces or hyphens) whose
  Luhn check digit is right and whose first digit is a card network's (2-6);
- ``iban``: a country code, two check digits and 11 to 30 letters or digits
  whose ISO 13616 mod-97 check gives 1;
- ``ip``: an IPv4 address (four numbers 0-255) or an IPv6 address, as
  Python's ``ipaddress`` parses them;
- ``phone``: an international number (``+`` and 8 to 15 digits), a trunk
  number (``0`` then groups of digits), or ``(555) 123-4567`` / ``555-123-4567``;
  a bare run of digits is not one (ids are);
- ``address``: a house number and a street (``12 Baker Street``, ``4 rue de la
  Paix``) or a street and its number (``Hauptstraße 5``, ``Kerkweg 12``).

The Luhn check is ingestion's (``weir.ingest.pci``, which redacts card
numbers from free text). No third-party library: these rules are short, checked by property tests,
and cost nothing per value; a phone library would weigh more than the rest
of the scan and answer the same question (does this parse as a number).
``PII_KINDS`` are what a column classified ``pii`` is expected to hold;
``PCI_KINDS`` what one classified ``pci`` is.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, get_args

from weir.ingest.pci import luhn_valid as luhn_ok

Kind = Literal["email", "card", "iban", "ip", "phone", "address"]
KINDS: tuple[Kind, ...] = get_args(Kind)
PII_KINDS: frozenset[Kind] = frozenset({"email", "iban", "ip", "phone", "address"})
PCI_KINDS: frozenset[Kind] = frozenset({"card"})

# How far a match of each kind can be trusted on its own: the checked kinds (a check
# digit, the shape of an address on the internet) rarely match by chance; a phone
# number's or a street's shape more often does (a reference, a product name).
WEIGHT: dict[Kind, float] = {
    "email": 0.95,
    "card": 0.95,
    "iban": 0.99,
    "ip": 0.8,
    "phone": 0.6,
    "address": 0.6,
}

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")
# 13 to 19 digits: in one run, in groups of four (the last shorter), or Amex's 4-6-5
_CARD = re.compile(
    r"(?<![\w-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{5})(?![\w-])"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d[\d ()./-]{6,20}\d"  # +44 20 7946 0958, +1-555-123-4567
    r"|0\d{1,4}[ /-]\d{2,5}(?:[ -]?\d{2,5}){0,3}"  # 020 7946 0958, 030/1234567
    r"|\(\d{3}\) ?\d{3}[ .-]\d{4}"  # (555) 123-4567
    r"|\d{3}[.-]\d{3}[.-]\d{4}"  # 555-123-4567
    r")(?![\w])"
)
_DATE = re.compile(r"\d{1,4}[ ./-]\d{1,2}[ ./-]\d{1,4}")  # 01-12-2026 is a day, not a number
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|"
    r"Place|Pl|Square|Sq|Terrace|Close|Crescent|Parkway|Highway)"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?,? (?:[A-Z][A-Za-z'-]+ ){{1,4}}{_STREET}\b"
    r"|\b\d{1,5},? (?:rue|avenue|boulevard|place|chemin|calle|via|viale) [^\d,;]{2,40}"
    r"|\b[A-ZÄÖÜ][a-zäöüß-]+(?:straße|strasse|str\.|weg|gasse|platz|allee|laan|straat|"
    r"gracht|plein|vej|gatan|vägen) \d{1,4}[a-z]?\b",
    re.UNICODE,
)


def iban_ok(text: str) -> bool:
    """Whether ``text`` (spaces allowed) passes the IBAN mod-97 check (ISO 13616)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    if not moved.isalnum():
        return False
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _card_shaped(text: str) -> list[tuple[tuple[int, int], str]]:
    """Each run of digits shaped like a card number (length, grouping, first digit), Luhn aside."""
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1:
            found.append((match.span(), digits))
    return found


def _cards(text: str) -> list[tuple[int, int]]:
    """The spans of card numbers in ``text``."""
    return [span for span, digits in _card_shaped(text) if luhn_ok(digits)]


def card_shaped(value: str) -> bool:
    """Whether ``value`` holds a number shaped like a card's, whatever its check digit.

    One such number in ten passes the Luhn check by chance: a column of long
    ids has a tenth of "card numbers". The scan counts a column's card numbers
    only when at least half of its card-shaped values pass.
    """
    return sum(c.isdigit() for c in value) >= 13 and bool(_card_shaped(value))


def _ibans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _IBAN.finditer(text) if iban_ok(m.group())]


def _ip(text: str) -> bool:
    for match in _IPV4.finditer(text):
        if all(int(part) <= 255 for part in match.group().split(".")):
            return True
    if text.count(":") >= 2:
        for match in _IPV6.finditer(text):
            try:
                ipaddress.IPv6Address(match.group())
            except ValueError:
                continue
            return True
    return False


def _phone(text: str) -> bool:
    for match in _PHONE.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 8 <= digits <= 15 and not _DATE.fullmatch(match.group()):
            return True
    return False


def kinds_in(value: str) -> frozenset[Kind]:
    """The kinds of personal or card data ``value`` holds somewhere in it."""
    found: set[Kind] = set()
    if "@" in value and _EMAIL.search(value):
        found.add("email")
    digits = sum(c.isdigit() for c in value)
    cards = _cards(value) if digits >= 13 else []
    ibans = _ibans(value) if digits >= 2 else []
    if cards:
        found.add("card")
    if ibans:
        found.add("iban")
    # what a card number or an IBAN took is not looked at again (its digits are no phone)
    rest = value
    for start, end in cards + ibans:
        rest = rest[:start] + " " * (end - start) + rest[end:]
    if ("." in rest or ":" in rest) and _ip(rest):
        found.add("ip")
    if digits >= 8 and _phone(rest):
        found.add("phone")
    if digits and _ADDRESS.search(rest):
        found.add("address")
    return frozenset(found)


def confidence(kind: Kind, matches: int) -> float:
    """How sure a finding is: the kind's weight, discounted when few values matched.

    ``weight * (1 - 0.5 ** matches)``: one match alone is half as sure, every further
    one halves the chance that they all matched by accident.
    """
    if matches <= 0:
        return 0.0
    return round(WEIGHT[kind] * (1 - 0.5**matches), 3)


def covered(kind: Kind, classification: str | None) -> bool:
    """Whether a column's classification already says it holds this kind of data."""
    if classification == "pci":
        return kind in PCI_KINDS
    if classification == "pii":
        return kind in PII_KINDS
    return False
