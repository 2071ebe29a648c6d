"""The retailer's customers: who they are, where they live, when they signed up, how keen they are.

Ids are given in sign-up order, so the customers who exist on a day are a
prefix of them, and a day's extract or draw needs no search. A few customers
move during the period (the extract shows their new address from that day);
most have a card and about seven in ten filled in the demographics form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import render
from weir.demo.generate.cards import card_digits
from weir.demo.generate.timeline import DAY_MS, Period, weighted_draw

COUNTRIES = ("GB", "IE", "FR", "DE", "NL", "ES")
_COUNTRY_SHARE = (0.82, 0.06, 0.04, 0.03, 0.03, 0.02)
TAX_RATES = (0.2, 0.23, 0.2, 0.19, 0.21, 0.21)
_PHONE_PREFIX = ("+44 7", "+353 8", "+33 6", "+49 15", "+31 6", "+34 6")
_FOREIGN_CITIES = (
    (),
    ("Dublin", "Cork", "Galway"),
    ("Paris", "Lyon", "Lille"),
    ("Berlin", "Hamburg", "Cologne"),
    ("Amsterdam", "Utrecht", "Rotterdam"),
    ("Madrid", "Barcelona", "Valencia"),
)
_FIRST = (
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Grace",
    "Freya",
    "Lily",
    "Emily",
    "Sophie",
    "Chloe",
    "Ella",
    "Aoife",
    "Niamh",
    "Camille",
    "Lea",
    "Hannah",
    "Lena",
    "Sanne",
    "Lucia",
    "Priya",
    "Aisha",
    "Zara",
    "Ruth",
    "Oliver",
    "George",
    "Harry",
    "Noah",
    "Jack",
    "Leo",
    "Arthur",
    "Oscar",
    "Charlie",
    "Jacob",
    "Thomas",
    "James",
    "Sean",
    "Conor",
    "Louis",
    "Hugo",
    "Felix",
    "Jonas",
    "Daan",
    "Pablo",
    "Omar",
    "Ravi",
    "Kwame",
    "Tom",
)
_LAST = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Hughes",
    "Edwards",
    "Turner",
    "Murphy",
    "Kelly",
    "OBrien",
    "Byrne",
    "Martin",
    "Bernard",
    "Dubois",
    "Muller",
    "Schmidt",
    "Fischer",
    "de Jong",
    "Jansen",
    "Garcia",
    "Lopez",
    "Khan",
    "Ali",
    "Singh",
    "Shah",
    "Okafor",
    "Mensah",
    "Nowak",
    "Kowalski",
    "Rossi",
    "Costa",
    "Morgan",
    "Price",
    "Bennett",
    "Gray",
)
_STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Park Avenue",
    "Mill Road",
    "Victoria Street",
    "King Street",
    "Queens Road",
    "Green Lane",
    "Manor Way",
    "Orchard Close",
    "Bridge Street",
    "Castle Hill",
    "Union Terrace",
)
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
GENDERS = ("female", "male", "non-binary", "undisclosed")
MARITAL = ("single", "married", "divorced", "widowed", "undisclosed")
PARENTAL = ("parent", "not_parent", "undisclosed")


@dataclass(frozen=True)
class Customers:
    ids: np.ndarray
    created_ms: np.ndarray  # non-decreasing: ids are given in sign-up order
    first: pa.Array
    last: pa.Array
    email: pa.Array
    phone: pa.Array
    address: pa.Array
    country: np.ndarray  # index into COUNTRIES
    movers: np.ndarray  # customers who move during the period...
    move_day: np.ndarray  # ...on this day...
    new_address: pa.Array  # ...to this address
    activity: np.ndarray  # how often each customer shows up (heavy-tailed)
    cumulative_activity: np.ndarray  # its running sum: a prefix serves each day's draws
    cards: np.ndarray  # (customers, 16) digits of each customer's own card
    has_demographics: np.ndarray
    age: np.ndarray
    age_known: np.ndarray
    gender: list[str | None]
    marital: list[str | None]
    parental: list[str | None]

    @property
    def n(self) -> int:
        return len(self.ids)

    def signed_up_before(self, epoch_ms: int) -> int:
        """How many customers exist strictly before ``epoch_ms`` (a prefix of the ids)."""
        return int(np.searchsorted(self.created_ms, epoch_ms, side="left"))

    def sample(self, rng: np.random.Generator, k: int, before_ms: int) -> np.ndarray:
        """``k`` customers who signed up before ``before_ms``, the keen ones more often."""
        n = max(1, self.signed_up_before(before_ms))
        return weighted_draw(rng, self.cumulative_activity[:n], k)


def build_customers(
    rng: np.random.Generator, n: int, period: Period, home_cities: Sequence[str]
) -> Customers:
    """``n`` customers; those who live in the home country live in one of ``home_cities``."""
    start_ms = period.epoch_ms(0)
    joining = round(n * 0.15 * period.days / 365)
    before = rng.integers(start_ms - 6 * 365 * DAY_MS, start_ms - 60_000, size=n - joining)
    during = rng.integers(start_ms, period.end_ms - DAY_MS // 2, size=joining)
    created = np.sort(np.concatenate([before, during]))
    first_i = rng.integers(len(_FIRST), size=n)
    last_i = rng.integers(len(_LAST), size=n)
    first = render.strings(np.array(_FIRST, dtype=object)[first_i])
    last = render.strings(np.array(_LAST, dtype=object)[last_i])
    ids = np.arange(1, n + 1, dtype=np.int64)
    local = pc.utf8_lower(
        pc.replace_substring(pc.binary_join_element_wise(first, last, "."), " ", "")
    )
    domain = render.strings(np.array(_DOMAINS, dtype=object)[rng.integers(len(_DOMAINS), size=n)])
    email = pc.binary_join_element_wise(local, pc.cast(pa.array(ids), pa.string()), "@", domain, "")
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_SHARE)
    phone_prefix = render.strings(np.array(_PHONE_PREFIX, dtype=object)[country])
    number = render.fixed_width(
        np.concatenate(
            [
                render.digit_chars(rng.integers(0, 1000, size=n), 3),
                np.full((n, 1), ord(" "), np.uint8),
                render.digit_chars(rng.integers(0, 10**6, size=n), 6),
            ],
            axis=1,
        )
    )
    phone = pc.binary_join_element_wise(phone_prefix, number, "")
    phone = pc.if_else(pa.array(rng.random(n) < 0.08), pa.scalar(None, pa.string()), phone)
    address = _addresses(rng, country, home_cities)
    address = pc.if_else(pa.array(rng.random(n) < 0.02), pa.scalar(None, pa.string()), address)
    existing = n - joining
    moving = min(existing, round(n * 0.04 * period.days / 365)) if period.days > 1 else 0
    movers = (
        np.sort(rng.choice(existing, size=moving, replace=False))
        if moving
        else np.empty(0, np.int64)
    )
    move_day = rng.integers(1, max(2, period.days), size=len(movers))
    new_address = _addresses(rng, country[movers], home_cities)
    activity = np.minimum(rng.pareto(1.1, size=n) + 0.05, 60.0)
    has_demo = rng.random(n) < 0.7
    age = np.clip(np.round(rng.normal(40, 13, size=n)), 16, 92).astype(np.int64)
    return Customers(
        ids,
        created,
        first,
        last,
        email,
        phone,
        address,
        country.astype(np.int64),
        movers.astype(np.int64),
        move_day,
        new_address,
        activity,
        np.cumsum(activity),
        card_digits(rng, n),
        has_demo,
        age,
        rng.random(n) > 0.03,
        _choice(rng, GENDERS, (0.5, 0.44, 0.02, 0.04), n, 0.02),
        _choice(rng, MARITAL, (0.4, 0.42, 0.09, 0.03, 0.06), n, 0.03),
        _choice(rng, PARENTAL, (0.45, 0.47, 0.08), n, 0.03),
    )


def _addresses(
    rng: np.random.Generator, country: np.ndarray, home_cities: Sequence[str]
) -> pa.Array:
    n = len(country)
    number = pc.cast(pa.array(rng.integers(1, 240, size=n)), pa.string())
    street = render.strings(np.array(_STREETS, dtype=object)[rng.integers(len(_STREETS), size=n)])
    uk_cities = list(home_cities)
    cities = np.array(uk_cities, dtype=object)[rng.integers(len(uk_cities), size=n)]
    for c in range(1, len(COUNTRIES)):
        abroad = np.flatnonzero(country == c)
        options = np.array(_FOREIGN_CITIES[c], dtype=object)
        cities[abroad] = options[rng.integers(len(options), size=len(abroad))]
    letters = rng.integers(ord("A"), ord("Z") + 1, size=(n, 4)).astype(np.uint8)
    digits = rng.integers(ord("1"), ord("9") + 1, size=(n, 2)).astype(np.uint8)
    uk_code = render.fixed_width(
        np.column_stack(
            [letters[:, :2], digits[:, :1], np.full(n, 32, np.uint8), digits[:, 1:], letters[:, 2:]]
        )
    )
    eu_code = render.fixed_width(render.digit_chars(rng.integers(10_000, 99_999, size=n), 5))
    code = pc.if_else(pa.array(country == 0), uk_code, eu_code)
    return pc.binary_join_element_wise(
        number, " ", street, ", ", render.strings(cities), ", ", code, ""
    )


def _choice(
    rng: np.random.Generator, values: tuple[str, ...], p: tuple[float, ...], n: int, missing: float
) -> list[str | None]:
    picks = rng.choice(len(values), size=n, p=p)
    absent = rng.random(n) < missing
    return [None if a else values[i] for i, a in zip(picks.tolist(), absent.tolist(), strict=True)]
