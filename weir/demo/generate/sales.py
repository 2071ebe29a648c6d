"""Store sales (POS) and online orders, one day at a time, and the stock they draw down.

A store-day is a number of baskets (weekends busier, a Christmas peak), each
of 1-4 lines sharing a time within opening hours, a loyalty customer (40 %)
and a card (30 %). Every line is one POS record with its own transaction id;
lines of one basket share the id's prefix. Online orders are one product
each. Both feed ``demand``: units taken from each (product, warehouse) pair
per hour, which the inventory simulation consumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import render
from weir.demo.generate.customers import TAX_RATES
from weir.demo.generate.records import Batch, Tokens
from weir.demo.generate.timeline import HOUR_MS
from weir.demo.generate.world import World

POS_COLUMNS = (
    "transaction_id",
    "store_id",
    "product_id",
    "quantity",
    "revenue",
    "discount_applied",
    "timestamp",
    "customer_id",
    "card_number",
)
ORDER_COLUMNS = (
    "order_id",
    "order_date",
    "product_id",
    "customer_id",
    "quantity",
    "retail_price",
    "tax_rate",
)

_STORE_WEEKDAY = np.array((0.85, 0.85, 0.9, 0.95, 1.1, 1.45, 1.1))  # Monday first
_ONLINE_WEEKDAY = np.array((1.1, 1.0, 0.95, 0.95, 0.9, 0.95, 1.2))
_LINES_PER_BASKET = np.array((1, 2, 3, 4))
_LINES_SHARE = np.array((0.45, 0.30, 0.15, 0.10))
_QUANTITY = np.array((1, 2, 3, 4, 5, 6))
_QUANTITY_SHARE = np.array((0.80, 0.13, 0.04, 0.015, 0.01, 0.005))
_DISCOUNT = np.array((0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.50))
_DISCOUNT_SHARE = np.array((0.15, 0.30, 0.15, 0.20, 0.08, 0.07, 0.05))
# Footfall by hour of day while a store is open: lunch and after-work peaks.
_STORE_HOURS = np.array(
    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.8, 1.0, 1.4, 1.4, 1.1, 1.0, 1.1, 1.3, 1.2, 0.8, 0, 0, 0, 0)
)
_SUNDAY_HOURS = np.where((np.arange(24) >= 10) & (np.arange(24) < 17), _STORE_HOURS, 0.0)
_ONLINE_HOURS = np.array(
    (
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.7,
        0.9,
        1.0,
        1.0,
        1.1,
        1.3,
        1.2,
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


@dataclass(frozen=True)
class PosDay:
    """One day of POS lines, sorted by store then time."""

    store: np.ndarray  # store index
    basket: np.ndarray  # 1-based number of the basket within its store-day
    line: np.ndarray  # 1-based line within the basket
    product: np.ndarray  # product index
    quantity: np.ndarray
    revenue_cents: np.ndarray
    discount_cents: np.ndarray  # -1: no discount
    discount_rate: np.ndarray  # index into the discount rates, -1: no discount
    ms: np.ndarray
    customer: np.ndarray  # customer index, -1: no loyalty card
    card: np.ndarray  # row of ``cards``, -1: no card exported
    cards: np.ndarray  # (k, 16) digits


@dataclass(frozen=True)
class OrdersDay:
    product: np.ndarray
    customer: np.ndarray
    quantity: np.ndarray
    hour: np.ndarray  # when it left the warehouse


def hour_of_day(rng: np.random.Generator, profile: np.ndarray, k: int) -> np.ndarray:
    return rng.choice(24, size=k, p=profile / profile.sum())


def pos_day(world: World, d: int, rng: np.random.Generator) -> PosDay:
    period, stores, products, customers = (
        world.period,
        world.stores,
        world.products,
        world.customers,
    )
    open_stores = stores.open_on(d)
    weekday = period.weekday(d)
    mean_lines = float(_LINES_PER_BASKET @ _LINES_SHARE)
    per_size = world.volumes.pos_lines / mean_lines / stores.size.sum()
    level = (
        per_size
        * _STORE_WEEKDAY[weekday]
        / _STORE_WEEKDAY.mean()
        * period.season(d)
        * rng.uniform(0.92, 1.08)
    )
    expected = level * stores.size[open_stores] * rng.lognormal(0.0, 0.08, size=len(open_stores))
    baskets_per_store = rng.poisson(expected)
    b_store = np.repeat(open_stores, baskets_per_store)
    n_baskets = len(b_store)
    profile = _SUNDAY_HOURS if weekday == 6 else _STORE_HOURS
    day_ms = period.epoch_ms(d)
    b_ms = (
        day_ms
        + hour_of_day(rng, profile, n_baskets) * HOUR_MS
        + rng.integers(0, HOUR_MS, size=n_baskets)
    )
    order = np.lexsort((b_ms, b_store))
    b_store, b_ms = b_store[order], b_ms[order]
    first_of_store = np.searchsorted(b_store, b_store, side="left")
    b_number = np.arange(n_baskets) - first_of_store + 1
    b_customer = np.where(rng.random(n_baskets) < 0.4, customers.sample(rng, n_baskets, day_ms), -1)
    # Card numbers the till exported: the customer's own card, or a stranger's.
    b_has_card = rng.random(n_baskets) < 0.3
    own = b_has_card & (b_customer >= 0) & (rng.random(n_baskets) < 0.85)
    pool_pick = rng.integers(0, len(world.card_pool), size=n_baskets)
    b_lines = rng.choice(_LINES_PER_BASKET, size=n_baskets, p=_LINES_SHARE)

    rows = np.repeat(np.arange(n_baskets), b_lines)
    n = len(rows)
    line = np.arange(n) - np.repeat(np.cumsum(b_lines) - b_lines, b_lines) + 1
    product = products.sample(rng, n, d)
    quantity = rng.choice(_QUANTITY, size=n, p=_QUANTITY_SHARE)
    revenue = quantity * products.list_cents[product]
    discounted = rng.random(n) < 0.15
    rate = np.where(discounted, rng.choice(len(_DISCOUNT), size=n, p=_DISCOUNT_SHARE), -1)
    discount = np.where(discounted, _discount_cents(revenue, np.maximum(rate, 0)), -1)
    customer = b_customer[rows]
    card_rows = np.where(own, -2, np.where(b_has_card, pool_pick, -1))[rows]
    # Own cards are appended after the pool's rows so one digits array serves both.
    line_customer_card = card_rows == -2
    cards = np.concatenate([world.card_pool, customers.cards[customer[line_customer_card]]])
    card = card_rows.copy()
    card[line_customer_card] = len(world.card_pool) + np.arange(int(line_customer_card.sum()))
    return PosDay(
        b_store[rows],
        b_number[rows],
        line,
        product,
        quantity,
        revenue,
        discount,
        rate,
        b_ms[rows],
        customer,
        card,
        cards,
    )


def _discount_cents(revenue_cents: np.ndarray, rate: np.ndarray) -> np.ndarray:
    cents: np.ndarray = np.round(revenue_cents * _DISCOUNT[rate]).astype(np.int64)
    return cents


class PosText:
    """Revenue and discount tokens of every (product, quantity, discount rate), rendered once.

    A POS line's amounts are determined by those three, so a day's amounts are
    taken from a small vocabulary instead of formatting each number anew.
    """

    def __init__(self, world: World) -> None:
        list_cents = world.products.list_cents
        quantities = len(_QUANTITY)
        revenue = (list_cents[:, None] * _QUANTITY[None, :]).ravel()
        self.revenue = render.tokens("csv", render.money(revenue))
        discount = _discount_cents(
            np.repeat(revenue, len(_DISCOUNT)), np.tile(np.arange(len(_DISCOUNT)), len(revenue))
        )
        self.discount = render.tokens("csv", render.money(discount))
        self.quantities = quantities

    def amounts(self, day: PosDay) -> tuple[pa.Array, pa.Array]:
        line = day.product * self.quantities + day.quantity - 1
        revenue = self.revenue.take(pa.array(line))
        discount = self.discount.take(
            pa.array(line * len(_DISCOUNT) + np.maximum(day.discount_rate, 0))
        )
        discount = pc.if_else(
            pa.array(day.discount_rate >= 0), discount, pa.scalar("", pa.string())
        )
        return revenue, discount


def pos_batch(world: World, d: int, day: PosDay, text: PosText) -> Batch:
    stores = world.stores
    store_id = stores.ids[day.store]
    width = max(3, len(str(int(stores.ids.max()))))
    transaction = render.prefixed(
        "T",
        render.digit_chars(store_id, width),
        f"-{world.period.compact(d)}-",
        render.digit_chars(day.basket, 5),
        "-",
        render.digit_chars(day.line, 1),
    )
    has_card = day.card >= 0
    card_text = render.fixed_width(day.cards[np.maximum(day.card, 0)] + ord("0"))
    card_text = pc.if_else(pa.array(has_card), card_text, pa.scalar("", pa.string()))
    revenue, discount = text.amounts(day)
    columns = {
        # ids and card numbers hold no character CSV would need to quote
        "transaction_id": Tokens(transaction),
        "store_id": render.numbers(store_id),
        "product_id": render.numbers(world.products.ids[day.product]),
        "quantity": render.numbers(day.quantity),
        "revenue": Tokens(revenue),
        "discount_applied": Tokens(discount),
        "timestamp": render.epochs(day.ms),
        "customer_id": render.numbers(
            world.customers.ids[np.maximum(day.customer, 0)], day.customer >= 0
        ),
        "card_number": Tokens(card_text),
    }
    key = d * len(stores.ids) + day.store
    context = {"revenue_cents": day.revenue_cents, "ms": day.ms}
    return Batch("csv", columns, key, context=context)


def orders_day(world: World, d: int, rng: np.random.Generator) -> OrdersDay:
    period = world.period
    level = world.volumes.orders * _ONLINE_WEEKDAY[period.weekday(d)] / _ONLINE_WEEKDAY.mean()
    n = int(rng.poisson(level * period.season(d) * rng.uniform(0.9, 1.1)))
    return OrdersDay(
        product=world.products.sample(rng, n, d),
        customer=world.customers.sample(rng, n, period.epoch_ms(d)),
        quantity=rng.choice(_QUANTITY[:3], size=n, p=(0.85, 0.11, 0.04)),
        hour=hour_of_day(rng, _ONLINE_HOURS, n),
    )


def orders_batch(world: World, d: int, day: OrdersDay) -> Batch:
    n = len(day.product)
    seq = np.arange(1, n + 1)
    stamp = world.period.stamp(d)
    tax = np.array(TAX_RATES)[world.customers.country[day.customer]]
    columns = {
        "order_id": render.prefixed("W", world.period.compact(d), "-", render.digit_chars(seq, 6)),
        "order_date": render.strings([stamp] * n),
        "product_id": render.numbers(world.products.ids[day.product]),
        "customer_id": render.numbers(world.customers.ids[day.customer]),
        "quantity": render.numbers(day.quantity),
        "retail_price": render.money(world.products.list_cents[day.product]),
        "tax_rate": render.numbers(tax.astype(np.float64)),
    }
    context = {"day_ms": np.full(n, world.period.epoch_ms(d), dtype=np.int64)}
    return Batch("xml", columns, d, record_tag="order", context=context)


def demand(
    world: World, d: int, pos: PosDay, orders: OrdersDay, rng: np.random.Generator
) -> np.ndarray:
    """Units leaving each (product, warehouse) pair in each hour of day ``d``: ``(pairs, 24)``.

    A store's sales are replenished from its region's warehouse; online orders
    ship from a central warehouse.
    """
    n_wh = len(world.warehouses.ids)
    pairs = len(world.products.ids) * n_wh
    store_hour = (pos.ms - world.period.epoch_ms(d)) // HOUR_MS
    store_pair = pos.product * n_wh + world.stores.warehouse[pos.store]
    online = world.warehouses.online
    online_pair = (
        orders.product * n_wh + online[rng.integers(0, len(online), size=len(orders.product))]
    )
    cells = np.concatenate([store_pair * 24 + store_hour, online_pair * 24 + orders.hour])
    units = np.concatenate([pos.quantity, orders.quantity]).astype(np.float64)
    return (
        np.bincount(cells, weights=units, minlength=pairs * 24).reshape(pairs, 24).astype(np.int64)
    )
