"""The reference retailer's world: stores, warehouses, products, and its customers (see customers.py).

They are drawn once per run from the seed; each daily extract is a view of
them as they stood at the start of that day (a store opened, a product
launched, a cost price changed, a customer signed up or moved). Days are
numbered from the first day of the period; entities that predate it carry
negative day numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weir.demo.generate.cards import card_digits
from weir.demo.generate.customers import Customers, build_customers
from weir.demo.generate.timeline import Period, stream, weighted_draw

REGIONS = ("North", "South", "East", "West", "Central")
_REGION_SHARE = (0.22, 0.25, 0.13, 0.15, 0.25)
CITIES = {
    "North": (
        "Leeds",
        "Manchester",
        "Newcastle",
        "York",
        "Sheffield",
        "Liverpool",
        "Durham",
        "Hull",
    ),
    "South": (
        "London",
        "Brighton",
        "Southampton",
        "Portsmouth",
        "Exeter",
        "Plymouth",
        "Guildford",
        "Canterbury",
    ),
    "East": (
        "Norwich",
        "Cambridge",
        "Ipswich",
        "Colchester",
        "Peterborough",
        "Chelmsford",
        "Lincoln",
    ),
    "West": ("Bristol", "Cardiff", "Bath", "Gloucester", "Swansea", "Cheltenham", "Truro"),
    "Central": (
        "Birmingham",
        "Nottingham",
        "Leicester",
        "Coventry",
        "Derby",
        "Northampton",
        "Stoke-on-Trent",
    ),
}
_SITES = (
    "High Street",
    "Central",
    "Retail Park",
    "Station",
    "Market Square",
    "Riverside",
    "Arcade",
    "Quays",
)

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
_SIZES = (
    ("S", "M", "L", "XL"),
    ("M", "L", "XL"),
    ("M", "L"),
    ("M", "L"),
    ("One size",),
    ("One size",),
)
_LINES = (
    "Ridge",
    "Harbour",
    "Atlas",
    "Fell",
    "Meridian",
    "Tarn",
    "Cove",
    "Summit",
    "Drift",
    "Ember",
    "Nomad",
    "Quarry",
    "Alder",
    "Brook",
    "Cinder",
    "Dune",
    "Granite",
    "Heath",
    "Juniper",
    "Kestrel",
)
_COLORS = ("Black", "Navy", "Olive", "Sand", "Grey", "Burgundy", "Forest", "Charcoal", "Mustard")
_MATERIALS = ("Canvas", "Leather", "Recycled nylon", "Waxed cotton", "Polyester", "Cork")


@dataclass(frozen=True)
class Volumes:
    """Records per ordinary day, before weekly and seasonal effects."""

    pos_lines: float
    web_events: float
    orders: float
    crm: float

    @classmethod
    def at(cls, scale: float) -> Volumes:
        # scale 1.0: ~10 M POS lines a year (some stores open during it), ~46 k web events a day
        return cls(
            pos_lines=28_500 * scale,
            web_events=44_000 * scale,
            orders=450 * scale,
            crm=1_200 * scale,
        )


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
        return weighted_draw(rng, np.cumsum(self.weights(d)), k)

    def new_on(self, d: int, low: int = 0, high: int = 29) -> np.ndarray:
        """Products launched between ``high`` and ``low`` days before day ``d``."""
        age = d - self.launched_day
        return np.flatnonzero((age >= low) & (age <= high))


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
    home = [city for region in REGIONS for city in CITIES[region]]
    customers = build_customers(rng, max(300, round(60_000 * scale)), period, home)
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
    names: list[str] = []
    cities: list[str] = []
    per_city: dict[str, int] = {}
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
        opened[n - newcomers :] = np.sort(
            rng.integers(period.days // 3, period.days, size=newcomers)
        )
    supplying = np.array(
        [rng.choice(np.flatnonzero(warehouses.region == r)) for r in region], dtype=np.int64
    )
    size = rng.lognormal(0.0, 0.35, size=n)
    return Stores(
        np.arange(1, n + 1, dtype=np.int64),
        names,
        cities,
        region.astype(np.int64),
        opened,
        size,
        supplying,
    )


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
        names.append(
            f"{line} {style}"
            if PRODUCT_TYPES[t] == "Accessory"
            else f"{line} {style} {PRODUCT_TYPES[t]}"
        )
        options = _SIZES[t]
        size: str | None = options[int(rng.integers(len(options)))]
        if PRODUCT_TYPES[t] == "Accessory" and rng.random() < 0.3:
            size = None
        sizes.append(size)
    colors = [
        None if rng.random() < 0.03 else _COLORS[int(rng.integers(len(_COLORS)))] for _ in range(n)
    ]
    materials = [
        None if rng.random() < 0.05 else _MATERIALS[int(rng.integers(len(_MATERIALS)))]
        for _ in range(n)
    ]
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
        np.arange(1, n + 1, dtype=np.int64),
        names,
        kind.astype(np.int64),
        colors,
        sizes,
        materials,
        list_cents,
        cost,
        launched,
        popularity,
    )
