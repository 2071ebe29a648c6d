"""Web traffic: sessions of clickstream events, one day at a time.

A session follows one of a few dozen journeys (a bounce, a browse, a click on
a new product from the home page, a cart abandoned, a purchase with or
without the cart, a visitor who pauses for over half an hour and comes back
under the same session id). Journeys are tables of steps, so a day's events
are expanded from its sessions with array operations, not a loop per event.
Half the sessions belong to a signed-in customer (``user_id``), always one
who had signed up before that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from weir.demo.generate import render
from weir.demo.generate.records import Batch, Tokens
from weir.demo.generate.timeline import HOUR_MS, stream
from weir.demo.generate.world import CATEGORIES, World

WEB_COLUMNS = (
    "event_id",
    "session_id",
    "user_id",
    "page",
    "device_type",
    "browser",
    "event_type",
    "element",
    "experiment",
    "variant",
    "timestamp",
)
HOME, CATEGORY, PRODUCT, CART, PAYMENT, CONFIRMATION = range(6)
VIEW, CLICK, SCROLL, CLOSE = range(4)
NO_ELEMENT, PRODUCT_LINK, NEW_PRODUCT_LINK, ADD_TO_CART, BUY = range(5)
FIRST, QUICK, READ, PAUSE, BOUNCE_CLOSE, SLOW_CLOSE, HALF_HOUR = range(7)
EVENT_TYPES = ("View", "Click", "Scroll", "Close")
DEVICES = ("Desktop", "Mobile", "Tablet")
BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "App")
_DEVICE_SHARE = (0.37, 0.55, 0.08)
_BROWSER_SHARE = (  # by device
    (0.55, 0.15, 0.10, 0.20, 0.0),
    (0.35, 0.45, 0.0, 0.0, 0.20),
    (0.25, 0.60, 0.0, 0.0, 0.15),
)
_SHOP_CATEGORIES = (*CATEGORIES, "new-in", "sale")
# A/B tests running on the site (the example's experiments/*.yml): each event of an exposed
# session names its experiment and variant. The one-page checkout really converts more:
# a share of its sessions that would have abandoned the cart or the payment buy instead.
# The banner test changes nothing. A few exposed sessions see a second variant part way
# (a cookie reset, a signed-in visitor on a new device): the KPI leaves them out.
EXPERIMENTS = (
    ("one_page_checkout", ("control", "one_page")),
    ("home_banner", ("control", "carousel", "grid")),
)
_EXPERIMENT_SHARE = (0.3, 0.3, 0.4)  # one_page_checkout, home_banner, no experiment
ONE_PAGE_RESCUE = 0.35  # of one_page sessions that would abandon, the share that buys
_SWITCH_SHARE = 0.01  # of exposed sessions, the share shown a second variant
SESSION_HOURS = np.array(
    (
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
        1.0,
        1.1,
        1.4,
        1.3,
        1.0,
        1.0,
        1.0,
        1.1,
        1.3,
        1.6,
        1.8,
        1.7,
        1.2,
        0.6,
    )
)
_WEEKDAY = np.array((1.05, 1.0, 0.95, 0.95, 0.9, 1.0, 1.15))

Step = tuple[int, int, int, int, int]  # page, event type, element, product slot, gap before


def _journeys() -> list[tuple[float, list[Step]]]:
    """(weight, steps) of each journey; landing pages and endings vary."""

    def land(page: int) -> list[Step]:
        return [(page, VIEW, NO_ELEMENT, 0, FIRST)]

    def visit(page: int, slot: int, new: bool = False) -> list[Step]:
        link = NEW_PRODUCT_LINK if new else PRODUCT_LINK
        return [(page, CLICK, link, slot, QUICK), (PRODUCT, VIEW, NO_ELEMENT, slot, QUICK)]

    def read(slot: int) -> list[Step]:
        return [(PRODUCT, SCROLL, NO_ELEMENT, slot, READ)]

    def back() -> list[Step]:
        return [(CATEGORY, VIEW, NO_ELEMENT, 0, QUICK)]

    def cart(slot: int) -> list[Step]:
        return [(PRODUCT, CLICK, ADD_TO_CART, slot, READ), (CART, VIEW, NO_ELEMENT, 0, QUICK)]

    pay: list[Step] = [(PAYMENT, VIEW, NO_ELEMENT, 0, READ)]
    buy: list[Step] = [(PAYMENT, CLICK, BUY, 0, READ)]
    confirm: list[Step] = [(CONFIRMATION, VIEW, NO_ELEMENT, 0, QUICK)]

    def close(steps: list[Step], gap: int = QUICK) -> list[Step]:
        page, _, _, slot, _ = steps[-1]
        return [*steps, (page, CLOSE, NO_ELEMENT, slot, gap)]

    browse = land(CATEGORY) + visit(CATEGORY, 0) + read(0)
    return [
        (16.0, land(HOME)),
        (9.0, land(CATEGORY)),
        (6.0, close(land(HOME), BOUNCE_CLOSE)),  # a bounce: under 10 s
        (4.0, close(land(HOME), SLOW_CLOSE)),  # not a bounce: 12 s or more
        (5.0, [*land(CATEGORY), (CATEGORY, SCROLL, NO_ELEMENT, 0, READ)]),
        (5.0, close([*land(HOME), (HOME, SCROLL, NO_ELEMENT, 0, READ)])),
        (8.0, land(HOME) + visit(HOME, 0) + read(0)),
        (5.0, close(land(HOME) + visit(HOME, 0))),
        (
            8.0,
            [
                *land(CATEGORY),
                (CATEGORY, SCROLL, NO_ELEMENT, 0, READ),
                *visit(CATEGORY, 0),
                *read(0),
            ],
        ),
        (6.0, close(browse + back() + visit(CATEGORY, 1) + read(1))),
        (3.0, browse + back() + visit(CATEGORY, 1) + back() + visit(CATEGORY, 2) + read(2)),
        (2.6, land(HOME) + visit(HOME, 0, new=True) + read(0)),
        (0.4, land(HOME) + visit(HOME, 0, new=True) + read(0) + cart(0) + pay + buy + confirm),
        (3.5, close(browse + cart(0))),  # cart abandoned
        (2.0, close(land(HOME) + visit(HOME, 0) + cart(0) + pay)),  # payment abandoned
        (1.5, browse + cart(0) + pay + buy + confirm),
        (0.7, browse + back() + visit(CATEGORY, 1) + cart(1) + pay + buy + confirm),
        (0.8, land(HOME) + visit(HOME, 0) + read(0) + pay + buy + confirm),  # skips the cart
        (0.4, land(CATEGORY) + visit(CATEGORY, 0) + cart(0) + pay + buy),  # no confirmation logged
        (
            0.4,
            land(CATEGORY) + visit(CATEGORY, 0) + cart(0) + pay + confirm,
        ),  # the app logs no click
        (0.6, [*browse, (PRODUCT, VIEW, NO_ELEMENT, 0, PAUSE), *cart(0), *pay, *buy, *confirm]),
        (
            0.15,
            [
                *land(HOME),
                (HOME, SCROLL, NO_ELEMENT, 0, READ),
                (HOME, VIEW, NO_ELEMENT, 0, HALF_HOUR),
                *visit(HOME, 0),
            ],
        ),
    ]


@dataclass(frozen=True)
class Journeys:
    """The journeys as padded step tables, ``(journeys, longest)`` each."""

    weight: np.ndarray
    length: np.ndarray
    page: np.ndarray
    event: np.ndarray
    element: np.ndarray
    slot: np.ndarray
    gap: np.ndarray

    @classmethod
    def build(cls) -> Journeys:
        journeys = _journeys()
        longest = max(len(steps) for _, steps in journeys)
        table = np.zeros((5, len(journeys), longest), dtype=np.int64)
        for j, (_, steps) in enumerate(journeys):
            table[:, j, : len(steps)] = np.array(steps).T
        weight = np.array([w for w, _ in journeys])
        length = np.array([len(s) for _, s in journeys])
        return cls(weight / weight.sum(), length, *table)

    @property
    def mean_length(self) -> float:
        return float(self.weight @ self.length)


JOURNEYS = Journeys.build()


def _converts(j: int) -> bool:
    events = JOURNEYS.element[j, : JOURNEYS.length[j]]
    pages = JOURNEYS.page[j, : JOURNEYS.length[j]]
    return bool(np.any(events == BUY) or np.any(pages == CONFIRMATION))


# the journeys that abandon the cart or the payment, and the plain purchase they become
_ABANDONING = np.array(
    [
        j
        for j in range(len(JOURNEYS.weight))
        if np.any(JOURNEYS.page[j, : JOURNEYS.length[j]] == CART) and not _converts(j)
    ]
)
_PURCHASE = next(
    j
    for j in range(len(JOURNEYS.weight))
    if _converts(j)
    and np.any(JOURNEYS.page[j, : JOURNEYS.length[j]] == CART)
    and not np.any(JOURNEYS.gap[j, : JOURNEYS.length[j]] == PAUSE)
)


def _experiments(
    rng: np.random.Generator, journey: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each session's experiment (-1: none) and variant; the journeys the effect changed."""
    n = len(journey)
    experiment = rng.choice(len(_EXPERIMENT_SHARE), size=n, p=_EXPERIMENT_SHARE)
    experiment = np.where(experiment == len(EXPERIMENTS), -1, experiment)
    sizes = np.array([len(v) for _, v in EXPERIMENTS])
    variant = np.where(
        experiment >= 0, (rng.random(n) * sizes[np.maximum(experiment, 0)]).astype(np.int64), 0
    )
    one_page = (experiment == 0) & (variant == 1)
    rescued = one_page & np.isin(journey, _ABANDONING) & (rng.random(n) < ONE_PAGE_RESCUE)
    return experiment, variant, np.where(rescued, _PURCHASE, journey)


@dataclass(frozen=True)
class WebDay:
    """One day's sessions expanded to events (sessions that started that day)."""

    session: np.ndarray  # day-local session number of each event
    users: np.ndarray  # customer index of each session, -1: anonymous
    page: np.ndarray  # index into the page vocabulary
    device: np.ndarray  # -1: not reported
    browser: np.ndarray
    event: np.ndarray
    element: np.ndarray  # index into the element vocabulary
    ms: np.ndarray
    experiment: np.ndarray  # index into EXPERIMENTS, -1: none
    variant: np.ndarray  # index into the experiment's variants


class Clickstream:
    """Generates a day of web traffic and renders it as JSON tokens."""

    def __init__(self, world: World) -> None:
        self.world = world
        products = world.products
        ids = [str(i) for i in products.ids.tolist()]
        pages = [
            "/",
            *(f"/category/{c}" for c in _SHOP_CATEGORIES),
            "/cart",
            "/checkout/payment",
            "/checkout/confirmation",
            *(f"/product/{i}" for i in ids),
        ]
        elements = [
            None,
            "add_to_cart",
            "buy",
            *(f"product:{i}" for i in ids),
            *(f"new_product:{i}" for i in ids),
        ]
        self.page_tokens = render.tokens("jsonl", render.strings(pages))
        self.element_tokens = render.tokens("jsonl", render.strings(elements))
        self.device_tokens = render.tokens("jsonl", render.strings([*DEVICES, None]))
        self.browser_tokens = render.tokens("jsonl", render.strings([*BROWSERS, None]))
        self.event_tokens = render.tokens("jsonl", render.strings([*EVENT_TYPES, None]))
        self._fixed_pages = 1 + len(_SHOP_CATEGORIES)
        self.experiment_tokens = render.tokens("jsonl", render.strings([e for e, _ in EXPERIMENTS]))
        self.variant_tokens = render.tokens(
            "jsonl", render.strings([v for _, variants in EXPERIMENTS for v in variants])
        )
        self.variant_offsets = np.cumsum([0, *(len(v) for _, v in EXPERIMENTS)])[:-1]

    def day(self, d: int, rng: np.random.Generator) -> WebDay:
        world, period = self.world, self.world.period
        products = world.products
        level = world.volumes.web_events / JOURNEYS.mean_length
        level *= (
            _WEEKDAY[period.weekday(d)]
            / _WEEKDAY.mean()
            * period.season(d)
            * rng.uniform(0.92, 1.08)
        )
        n = int(rng.poisson(level))
        journey = rng.choice(len(JOURNEYS.weight), size=n, p=JOURNEYS.weight)
        tested = stream(world.seed, "web-experiments", d)
        experiment, variant, journey = _experiments(tested, journey)
        hours = rng.choice(24, size=n, p=SESSION_HOURS / SESSION_HOURS.sum())
        start = period.epoch_ms(d) + hours * HOUR_MS + rng.integers(0, HOUR_MS, size=n)
        device = rng.choice(len(DEVICES), size=n, p=_DEVICE_SHARE)
        browser_p = np.array(_BROWSER_SHARE)[device]
        browser = (browser_p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
        user = np.where(rng.random(n) < 0.5, world.customers.sample(rng, n, period.epoch_ms(d)), -1)
        slots = products.sample(rng, n * 3, d).reshape(n, 3)
        # Home-page banners show products launched in the last 30 days (sometimes a stale one).
        fresh = products.new_on(d, 0, 29)
        stale = products.new_on(d, 30, 45)
        has_new = np.zeros(n, dtype=bool)
        if len(fresh):
            wants = np.any(JOURNEYS.element[journey] == NEW_PRODUCT_LINK, axis=1)
            use_stale = (rng.random(n) < 0.08) & (len(stale) > 0)
            pick = np.where(
                use_stale,
                stale[rng.integers(0, max(1, len(stale)), size=n)] if len(stale) else 0,
                fresh[rng.integers(0, len(fresh), size=n)],
            )
            slots[wants, 0] = pick[wants]
            has_new = wants
        category = np.where(
            rng.random(n) < 0.82,
            products.type[slots[:, 0]],
            rng.integers(len(CATEGORIES), len(_SHOP_CATEGORIES), size=n),
        )

        lengths = JOURNEYS.length[journey]
        session = np.repeat(np.arange(n), lengths)
        first = np.cumsum(lengths) - lengths
        step = np.arange(len(session)) - np.repeat(first, lengths)
        j = journey[session]
        page_kind = JOURNEYS.page[j, step]
        element_kind = JOURNEYS.element[j, step]
        slot_product = slots[session, JOURNEYS.slot[j, step]]
        gap = self._gaps(rng, JOURNEYS.gap[j, step])
        elapsed = np.cumsum(gap)
        ms = (
            start[session] + elapsed - np.repeat(elapsed[first], lengths)
            if len(session)
            else start[session]
        )

        fixed = self._fixed_pages
        page = np.select(
            [
                page_kind == HOME,
                page_kind == CATEGORY,
                page_kind == CART,
                page_kind == PAYMENT,
                page_kind == CONFIRMATION,
            ],
            [0, 1 + category[session], fixed, fixed + 1, fixed + 2],
            default=fixed + 3 + slot_product,
        )
        n_products = len(products.ids)
        element_kind = np.where(
            (element_kind == NEW_PRODUCT_LINK) & ~has_new[session], PRODUCT_LINK, element_kind
        )
        element = np.select(
            [
                element_kind == ADD_TO_CART,
                element_kind == BUY,
                element_kind == PRODUCT_LINK,
                element_kind == NEW_PRODUCT_LINK,
            ],
            [1, 2, 3 + slot_product, 3 + n_products + slot_product],
            default=0,
        )
        # A session still going at the end of the period is cut off there.
        last = np.maximum.reduceat(ms, first) if n else ms
        keep = np.repeat(last < period.end_ms, lengths)
        events = len(session)
        unreported = rng.random((3, events)) < np.array([[0.006], [0.004], [0.002]])
        dev = np.where(unreported[0], -1, device[session])
        brw = np.where(unreported[1], -1, browser[session])
        evt = np.where(unreported[2], -1, JOURNEYS.event[j, step])
        # an exposed session's events name its variant; a switching one's later half another
        shown = variant[session].copy()
        switches = tested.random(n) < _SWITCH_SHARE
        later = switches[session] & (step >= (lengths[session] + 1) // 2) & (lengths[session] > 1)
        sizes = np.array([len(v) for _, v in EXPERIMENTS])[np.maximum(experiment, 0)]
        shown[later] = (shown[later] + 1) % sizes[session][later]
        # Files are by hour of the event, so the day is written in time order.
        order = np.flatnonzero(keep)
        order = order[np.argsort(ms[order])]
        return WebDay(
            session[order],
            user,
            page[order],
            dev[order],
            brw[order],
            evt[order],
            element[order],
            ms[order],
            experiment[session][order],
            shown[order],
        )

    @staticmethod
    def _gaps(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
        """Milliseconds since the session's previous event (0 for its first)."""
        n = len(kind)
        gap = np.zeros(n, dtype=np.int64)
        for kind_code in (QUICK, READ, PAUSE, BOUNCE_CLOSE, SLOW_CLOSE, HALF_HOUR):
            chosen = np.flatnonzero(kind == kind_code)
            if len(chosen):
                gap[chosen] = Clickstream._gap(rng, kind_code, len(chosen))
        return gap

    @staticmethod
    def _gap(rng: np.random.Generator, kind: int, k: int) -> np.ndarray:
        if kind == QUICK:
            return rng.integers(1_000, 6_000, size=k)
        if kind == READ:
            return 4_000 + np.minimum(rng.exponential(50_000, size=k), 900_000).astype(np.int64)
        if kind == PAUSE:  # back after more than half an hour: a new session for the KPIs
            return rng.integers(31 * 60_000, 90 * 60_000, size=k)
        if kind == BOUNCE_CLOSE:  # closed within 10 s: still a bounce
            return rng.integers(1_000, 9_000, size=k)
        if kind == SLOW_CLOSE:  # closed after 12 s or more: not a bounce
            return rng.integers(12_000, 60_000, size=k)
        return np.full(k, 30 * 60_000)  # exactly half an hour: still the same session

    def batch(self, d: int, day: WebDay) -> Batch:
        n = len(day.ms)
        serial = np.uint64(d) * np.uint64(1 << 24) + np.arange(n, dtype=np.uint64)
        # Session-level values are rendered once per session and taken per event.
        sessions = np.uint64(d) * np.uint64(1 << 24) + np.arange(len(day.users), dtype=np.uint64)
        session_ids = render.prefixed(
            '"s', render.hex_chars(render.scramble(sessions, 44), 11), '"'
        )
        users = render.tokens(
            "jsonl",
            render.numbers(self.world.customers.ids[np.maximum(day.users, 0)], day.users >= 0),
        )
        of_session = pa.array(day.session)
        columns = {
            "event_id": Tokens(
                render.prefixed('"e', render.hex_chars(render.scramble(serial, 48), 12), '"')
            ),
            "session_id": Tokens(session_ids.take(of_session)),
            "user_id": Tokens(users.take(of_session)),
            "page": Tokens(self.page_tokens.take(pa.array(day.page))),
            "device_type": Tokens(
                self.device_tokens.take(pa.array(day.device % (len(DEVICES) + 1)))
            ),
            "browser": Tokens(
                self.browser_tokens.take(pa.array(day.browser % (len(BROWSERS) + 1)))
            ),
            "event_type": Tokens(
                self.event_tokens.take(pa.array(day.event % (len(EVENT_TYPES) + 1)))
            ),
            "element": Tokens(self.element_tokens.take(pa.array(day.element))),
            "experiment": Tokens(
                self.experiment_tokens.take(pa.array(np.maximum(day.experiment, 0)))
            ),
            "variant": Tokens(
                self.variant_tokens.take(
                    pa.array(self.variant_offsets[np.maximum(day.experiment, 0)] + day.variant)
                )
            ),
            "timestamp": render.epochs(day.ms),
        }
        hour = (day.ms - self.world.period.epoch_ms(0)) // HOUR_MS
        batch = Batch("jsonl", columns, hour, context={"ms": day.ms})
        # events outside any experiment carry neither field
        batch.leave_out("experiment", np.flatnonzero(day.experiment < 0))
        batch.leave_out("variant", np.flatnonzero(day.experiment < 0))
        batch.rank = day.ms.astype(np.float64)
        return batch
