"""The reference retailer's entities: stores, warehouses, products and customers.

They are drawn once per run from the seed; each daily extract is a view of
them as they stood at the start of that day (a store opened, a product
launched, a cost price changed, a customer signed up or moved). Days are
numbered from the first day of the period; entities that predate it carry
negative day numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import render
from weir.demo.generate.cards import card_digits
from weir.demo.generate.timeline import DAY_MS, Period, stream

REGIONS = ("North", "South", "East", "West", "Central")
_REGION_SHARE = (0.22, 0.25, 0.13, 0.15, 0.25)
CITIES = {
    "North": ("Leeds", "Manchester", "Newcastle", "York", "Sheffield", "Liverpool", "Durham", "Hull"),
    "South": ("London", "Brighton", "Southampton", "Portsmouth", "Exeter", "Plymouth", "Guildford", "Canterbury"),
    "East": ("Norwich", "Cambridge", "Ipswich", "Colchester", "Peterborough", "Chelmsford", "Lincoln"),
    "West": ("Bristol", "Cardiff", "Bath", "Gloucester", "Swansea", "Cheltenham", "Truro"),
    "Central": ("Birmingham", "Nottingham", "Leicester", "Coventry", "Derby", "Northampton", "Stoke-on-Trent"),
}
_SITES = ("High Street", "Central", "Retail Park", "Station", "Market Square", "Riverside", "Arcade", "Quays")

PRODUCT_TYPES = ("Backpack", "Duffel", "Tote", "Messenger", "Wallet", "Accessory")
CATEGORIES = ("backpacks", "duffels", "totes", "messengers", "wallets", "accessories")
_TYPE_SHARE = (0.30, 0.10, 0.18, 0.12, 0.15, 0.15)
_PRICE_RANGE = ((55, 180), (70, 210), (25, 95), (50, 160), (20, 75), (8, 40))
_STYLES = (
    ("Roll-top", "Daypack 20L", "Commuter 28L", "Trek 40L", "Mini"),
    ("Weekender", "Holdall 45L", "Gym", "Travel 60L"),
    ("Market", "Canvas", "Zip", "Shopper"),
    ("Courier", "Laptop 15in", "Satchel", "Crossbody"),
    ("Bifold", "Card Holder", "Zip Purse", "Travel"),
    ("Strap", "Rain Cover", "Pouch", "Key Clip", "Bottle Holder", "Luggage Tag"),
)
_SIZES = (("S", "M", "L", "XL"), ("M", "L", "XL"), ("M", "L"), ("M", "L"), ("One size",), ("One size",))
_LINES = (
    "Ridge", "Harbour", "Atlas", "Fell", "Meridian", "Tarn", "Cove", "Summit", "Drift", "Ember",
    "Nomad", "Quarry", "Alder", "Brook", "Cinder", "Dune", "Granite", "Heath", "Juniper", "Kestrel",
)
_COLORS = ("Black", "Navy", "Olive", "Sand", "Grey", "Burgundy", "Forest", "Charcoal", "Mustard")
_MATERIALS = ("Canvas", "Leather", "Recycled nylon", "Waxed cotton", "Polyester", "Cork")

COUNTRIES = ("GB", "IE", "FR", "DE", "NL", "ES")
_COUNTRY_SHARE = (0.82, 0.06, 0.04, 0.03, 0.03, 0.02)
TAX_RATES = (0.2, 0.23, 0.2, 0.19, 0.21, 0.21)
_PHONE_PREFIX = ("+44 7", "+353 8", "+33 6", "+49 15", "+31 6", "+34 6")
_FOREIGN_CITIES = (
    (), ("Dublin", "Cork", "Galway"), ("Paris", "Lyon", "Lille"), ("Berlin", "Hamburg", "Cologne"),
    ("Amsterdam", "Utrecht", "Rotterdam"), ("Madrid", "Barcelona", "Valencia"),
)
_FIRST = (
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Freya", "Lily", "Emily", "Sophie", "Chloe", "Ella",
    "Aoife", "Niamh", "Camille", "Lea", "Hannah", "Lena", "Sanne", "Lucia", "Priya", "Aisha", "Zara", "Ruth",
    "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Oscar", "Charlie", "Jacob", "Thomas",
    "James", "Sean", "Conor", "Louis", "Hugo", "Felix", "Jonas", "Daan", "Pablo", "Omar", "Ravi", "Kwame", "Tom",
)
_LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
    "Hughes", "Edwards", "Turner", "Murphy", "Kelly", "OBrien", "Byrne", "Martin", "Bernard", "Dubois",
    "Muller", "Schmidt", "Fischer", "de Jong", "Jansen", "Garcia", "Lopez", "Khan", "Ali", "Singh", "Shah",
    "Okafor", "Mensah", "Nowak", "Kowalski", "Rossi", "Costa", "Morgan", "Price", "Bennett", "Gray",
)
_STREETS = (
    "High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Victoria Street", "King Street",
    "Queens Road", "Green Lane", "Manor Way", "Orchard Close", "Bridge Street", "Castle Hill", "Union Terrace",
)
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
GENDERS = ("female", "male", "non-binary", "undisclosed")
MARITAL = ("single", "married", "divorced", "widowed", "undisclosed")
PARENTAL = ("parent", "not_parent", "undisclosed")


@dataclass(frozen=True)
class Volumes:
    """Records per ordinary day, before weekly and seasonal effects."""

    pos_lines: float
    web_events: float
    orders: float
    crm: float

    @classmethod
    def at(cls, scale: float) -> Volumes:
        # scale 1.0: ~10 M POS lines a year, ~50 k web events a day
        return cls(pos_lines=27_000 * scale, web_events=48_000 * scale, orders=450 * scale, crm=1_200 * scale)


@dataclass(frozen=True)
class Stores:
    ids: np.ndarray
    names: list[str]
    cities: list[str]
    region: np.ndarray  # index into REGIONS
    opened_day: np.ndarray
    size: np.ndarray  # relative footfall
    warehouse: np.ndarray  # index of the warehouse that restocks the store

    def open_on(self, d: int) -> np.ndarray:
        return np.flatnonzero(self.opened_day <= d)


@dataclass(frozen=True)
class Warehouses:
    ids: np.ndarray
    names: list[str]
    region: np.ndarray

    @property
    def online(self) -> np.ndarray:
        """The warehouses that ship online orders: the central ones."""
        return np.flatnonzero(self.region == REGIONS.index("Central"))


@dataclass(frozen=True)
class Products:
    ids: np.ndarray
    names: list[str]
    type: np.ndarray  # index into PRODUCT_TYPES
    color: list[str | None]
    size: list[str | None]
    material: list[str | None]
    list_cents: np.ndarray
    cost_cents: np.ndarray  # (products, days): the cost price in force on each day
    launched_day: np.ndarray  # non-decreasing: ids are given in launch order
    popularity: np.ndarray

    def launched_by(self, d: int) -> int:
        """How many products are launched on or before day ``d`` (a prefix of the ids)."""
        return int(np.searchsorted(self.launched_day, d, side="right"))

    def weights(self, d: int) -> np.ndarray:
        """Relative demand on day ``d``: launched products only, new ones boosted."""
        n = self.launched_by(d)
        age = d - self.launched_day[:n]
        return self.popularity[:n] * np.where(age < 30, 1.8, 1.0)

    def sample(self, rng: np.random.Generator, k: int, d: int) -> np.ndarray:
        cumulative = np.cumsum(self.weights(d))
        return np.searchsorted(cumulative, rng.random(k) * cumulative[-1], side="right")

    def new_on(self, d: int, low: int = 0, high: int = 29) -> np.ndarray:
        """Products launched between ``high`` and ``low`` days before day ``d``."""
        age = d - self.launched_day
        return np.flatnonzero((age >= low) & (age <= high))


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
        cumulative = np.cumsum(self.activity[:n])
        return np.searchsorted(cumulative, rng.random(k) * cumulative[-1], side="right")


@dataclass(frozen=True)
class World:
    period: Period
    seed: int
    volumes: Volumes
    stores: Stores
    warehouses: Warehouses
    products: Products
    customers: Customers
    card_pool: np.ndarray  # (n, 16) digits of cards of shoppers without a loyalty card


def build_world(period: Period, scale: float, seed: int) -> World:
    rng = stream(seed, "world")
    warehouses = _warehouses(max(5, round(8 * scale)))
    stores = _stores(rng, max(3, round(40 * scale)), warehouses, period)
    products = _products(rng, max(24, round(300 * scale)), period)
    customers = _customers(rng, max(300, round(60_000 * scale)), period)
    pool = card_digits(rng, max(500, customers.n // 2))
    return World(period, seed, Volumes.at(scale), stores, warehouses, products, customers, pool)


def _warehouses(n: int) -> Warehouses:
    # One per region first, then a second one in the busiest regions.
    order = (4, 0, 1, 3, 2)
    region = np.array([i for i in range(5)] + [order[i % 5] for i in range(n - 5)], dtype=np.int64)
    names, used = [], {r: 0 for r in range(5)}
    for r in region:
        city = CITIES[REGIONS[r]][-1 - used[r]]
        used[r] += 1
        names.append(f"{city} Distribution Centre")
    return Warehouses(np.arange(1, n + 1, dtype=np.int64), names, region)


def _stores(rng: np.random.Generator, n: int, warehouses: Warehouses, period: Period) -> Stores:
    region = rng.choice(5, size=n, p=_REGION_SHARE)
    region[:5] = np.arange(min(5, n))
    names, cities, per_city = [], [], {}
    for i, r in enumerate(region):
        options = CITIES[REGIONS[r]]
        city = options[int(np.sum(region[:i] == r)) % len(options)]
        site = _SITES[per_city.get(city, 0) % len(_SITES)]
        per_city[city] = per_city.get(city, 0) + 1
        names.append(f"{city} {site}")
        cities.append(city)
    opened = -rng.integers(90, 13 * 365, size=n)
    # A few stores open during the period (the newest get the highest ids).
    newcomers = min(n - 1, (1 if period.days >= 20 else 0) + round(n * 0.05 * period.days / 365))
    if newcomers:
        opened[n - newcomers :] = np.sort(rng.integers(period.days // 3, period.days, size=newcomers))
    supplying = np.array([rng.choice(np.flatnonzero(warehouses.region == r)) for r in region], dtype=np.int64)
    size = rng.lognormal(0.0, 0.35, size=n)
    return Stores(np.arange(1, n + 1, dtype=np.int64), names, cities, region.astype(np.int64), opened, size, supplying)


def _products(rng: np.random.Generator, n: int, period: Period) -> Products:
    days = period.days
    launched = -rng.integers(46, 5 * 365, size=n)
    launching = min(n // 3, 2 + round(n * 0.07 * days / 365))
    recent = min(3, n // 8)  # launched shortly before the period: new at its start
    picks = rng.permutation(n)
    launched[picks[:launching]] = rng.integers(0, days, size=launching)
    launched[picks[launching : launching + recent]] = -rng.integers(1, 30, size=recent)
    launched = np.sort(launched)
    kind = rng.choice(len(PRODUCT_TYPES), size=n, p=_TYPE_SHARE)
    names, sizes = [], []
    for t in kind:
        style = _STYLES[t][int(rng.integers(len(_STYLES[t])))]
        line = _LINES[int(rng.integers(len(_LINES)))]
        names.append(f"{line} {style}" if PRODUCT_TYPES[t] == "Accessory" else f"{line} {style} {PRODUCT_TYPES[t]}")
        options = _SIZES[t]
        size: str | None = options[int(rng.integers(len(options)))]
        if PRODUCT_TYPES[t] == "Accessory" and rng.random() < 0.3:
            size = None
        sizes.append(size)
    colors = [None if rng.random() < 0.03 else _COLORS[int(rng.integers(len(_COLORS)))] for _ in range(n)]
    materials = [None if rng.random() < 0.05 else _MATERIALS[int(rng.integers(len(_MATERIALS)))] for _ in range(n)]
    low = np.array([_PRICE_RANGE[t][0] for t in kind])
    high = np.array([_PRICE_RANGE[t][1] for t in kind])
    pounds = np.round(rng.uniform(low, high)).astype(np.int64)
    list_cents = pounds * 100 - np.where(rng.random(n) < 0.7, 1, 0)
    base_cost = np.round(list_cents * rng.uniform(0.35, 0.55, size=n)).astype(np.int64)
    cost = np.repeat(base_cost[:, None], days, axis=1)
    # A few cost changes per product and year (suppliers re-price), never above the list price.
    changes = rng.poisson(max(0.3, 3.0 * days / 365), size=n) if days > 1 else np.zeros(n, np.int64)
    for p in np.flatnonzero(changes):
        for day in np.sort(rng.integers(1, days, size=int(changes[p]))):
            factor = rng.uniform(0.9, 1.12)
            cost[p, day:] = np.minimum(np.round(cost[p, day] * factor), list_cents[p] - 100)
    popularity = rng.pareto(1.3, size=n) + 0.3
    return Products(
        np.arange(1, n + 1, dtype=np.int64), names, kind.astype(np.int64), colors, sizes, materials,
        list_cents, cost, launched, popularity,
    )


def _customers(rng: np.random.Generator, n: int, period: Period) -> Customers:
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
    local = pc.utf8_lower(pc.replace_substring(pc.binary_join_element_wise(first, last, "."), " ", ""))
    domain = render.strings(np.array(_DOMAINS, dtype=object)[rng.integers(len(_DOMAINS), size=n)])
    email = pc.binary_join_element_wise(local, pc.cast(pa.array(ids), pa.string()), "@", domain, "")
    country = rng.choice(len(COUNTRIES), size=n, p=_COUNTRY_SHARE)
    phone_prefix = render.strings(np.array(_PHONE_PREFIX, dtype=object)[country])
    number = render.fixed_width(render.digit_chars(rng.integers(0, 10**8, size=n), 8))
    phone = pc.binary_join_element_wise(phone_prefix, number, "")
    phone = pc.if_else(pa.array(rng.random(n) < 0.08), pa.scalar(None, pa.string()), phone)
    address = _addresses(rng, country)
    address = pc.if_else(pa.array(rng.random(n) < 0.02), pa.scalar(None, pa.string()), address)
    existing = n - joining
    moving = min(existing, round(n * 0.04 * period.days / 365)) if period.days > 1 else 0
    movers = np.sort(rng.choice(existing, size=moving, replace=False)) if moving else np.empty(0, np.int64)
    move_day = rng.integers(1, max(2, period.days), size=len(movers))
    new_address = _addresses(rng, country[movers])
    activity = np.minimum(rng.pareto(1.1, size=n) + 0.05, 60.0)
    has_demo = rng.random(n) < 0.7
    age = np.clip(np.round(rng.normal(40, 13, size=n)), 16, 92).astype(np.int64)
    return Customers(
        ids, created, first, last, email, phone, address, country.astype(np.int64), movers.astype(np.int64),
        move_day, new_address, activity, card_digits(rng, n), has_demo, age, rng.random(n) > 0.03,
        _choice(rng, GENDERS, (0.5, 0.44, 0.02, 0.04), n, 0.02),
        _choice(rng, MARITAL, (0.4, 0.42, 0.09, 0.03, 0.06), n, 0.03),
        _choice(rng, PARENTAL, (0.45, 0.47, 0.08), n, 0.03),
    )


def _addresses(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    n = len(country)
    number = pc.cast(pa.array(rng.integers(1, 240, size=n)), pa.string())
    street = render.strings(np.array(_STREETS, dtype=object)[rng.integers(len(_STREETS), size=n)])
    uk_cities = [c for region in REGIONS for c in CITIES[region]]
    cities = np.array(uk_cities, dtype=object)[rng.integers(len(uk_cities), size=n)]
    for c in range(1, len(COUNTRIES)):
        abroad = np.flatnonzero(country == c)
        options = np.array(_FOREIGN_CITIES[c], dtype=object)
        cities[abroad] = options[rng.integers(len(options), size=len(abroad))]
    letters = rng.integers(ord("A"), ord("Z") + 1, size=(n, 4)).astype(np.uint8)
    digits = rng.integers(ord("1"), ord("9") + 1, size=(n, 2)).astype(np.uint8)
    uk_code = render.fixed_width(np.column_stack([letters[:, :2], digits[:, :1], np.full(n, 32, np.uint8), digits[:, 1:], letters[:, 2:]]))
    eu_code = render.fixed_width(render.digit_chars(rng.integers(10_000, 99_999, size=n), 5))
    code = pc.if_else(pa.array(country == 0), uk_code, eu_code)
    return pc.binary_join_element_wise(number, " ", street, ", ", render.strings(cities), ", ", code, "")


def _choice(
    rng: np.random.Generator, values: tuple[str, ...], p: tuple[float, ...], n: int, missing: float
) -> list[str | None]:
    picks = rng.choice(len(values), size=n, p=p)
    absent = rng.random(n) < missing
    return [None if a else values[i] for i, a in zip(picks.tolist(), absent.tolist(), strict=True)]
