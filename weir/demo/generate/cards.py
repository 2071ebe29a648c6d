"""Payment card numbers that pass the Luhn check (Visa- and Mastercard-like).

The tills export some card numbers in clear and customers paste theirs into
CRM messages; both must be real-looking so that ingestion's PCI scrubbing
(which recognises card numbers by their Luhn check digit, ``weir.ingest.pci.luhn_valid``)
has work to do.
"""

from __future__ import annotations

import numpy as np

CARD_DIGITS = 16


def luhn_check_digit(body: np.ndarray) -> np.ndarray:
    """The check digit that completes each row of ``body`` (digits, check digit excluded)."""
    width = body.shape[1]
    digits = body.astype(np.int64)
    # Counting from the check digit leftwards, every second digit is doubled.
    doubled = (width - np.arange(width)) % 2 == 1
    digits[:, doubled] *= 2
    digits[digits > 9] -= 9
    check: np.ndarray = (10 - digits.sum(axis=1) % 10) % 10
    return check


def card_digits(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` valid 16-digit card numbers as an ``(n, 16)`` array of digits."""
    body = rng.integers(0, 10, size=(n, CARD_DIGITS - 1), dtype=np.int64)
    visa = rng.random(n) < 0.6
    body[visa, 0] = 4
    # Mastercard's classic range 51-55.
    body[~visa, 0] = 5
    body[~visa, 1] = rng.integers(1, 6, size=int((~visa).sum()))
    check = luhn_check_digit(body)
    return np.concatenate([body, check[:, None]], axis=1).astype(np.uint8)
