"""Stock levels of every (product, warehouse) pair, simulated hour by hour from the sales.

Each pair starts when its product launches. Sales draw it down; when it falls
to its restock threshold a restock is ordered and arrives after a lead time
(usually days, sometimes a supplier delay of weeks, which is when pairs sit
at zero). A pair reports its level every few hours when it changed, and
always when a restock lands, so inventory records are sparse like a real
feed and restocks show as a rise between consecutive records. A planted
stockout (see ``incidents.py``) empties a pair at a given hour and holds its
restock back for the planned delay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from weir.demo.generate import render
from weir.demo.generate.incidents import Stockout
from weir.demo.generate.records import Batch
from weir.demo.generate.timeline import HOUR_MS
from weir.demo.generate.world import World

INVENTORY_COLUMNS = (
    "inventory_id",
    "product_id",
    "warehouse_id",
    "stock_level",
    "restock_threshold",
    "last_updated",
)
_REPORT_EVERY = np.array((2, 3, 4, 6))


@dataclass(frozen=True)
class StockRecords:
    """One day's inventory records, in time order."""

    inventory_id: np.ndarray
    pair: np.ndarray
    level: np.ndarray
    ms: np.ndarray
    planted: np.ndarray  # True: the record that shows a planted stockout


@dataclass(frozen=True)
class Restock:
    """A restock ordered from the supplier: it lands at ``due_hour`` (period hours)."""

    pair: int
    ordered_hour: int
    due_hour: int
    units: int
    delayed: bool  # a supplier delay (or a planted stockout's held-back restock)


_NONE = np.empty(0, np.int64)


class StockKeeper:
    """The stock of every pair, carried from one day to the next."""

    def __init__(
        self, world: World, rng: np.random.Generator, stockouts: tuple[Stockout, ...] = ()
    ) -> None:
        self.world = world
        products, warehouses, stores = world.products, world.warehouses, world.stores
        n_wh = len(warehouses.ids)
        n = len(products.ids) * n_wh
        self.n_warehouses = n_wh
        # Expected daily units per pair, to size thresholds and restocks like a planner would.
        share = products.popularity / products.popularity.sum()
        store_share = (
            np.bincount(stores.warehouse, weights=stores.size, minlength=n_wh) / stores.size.sum()
        )
        online_share = np.zeros(n_wh)
        online_share[warehouses.online] = 1.0 / len(warehouses.online)
        units = (
            world.volumes.pos_lines * 1.3 * store_share + world.volumes.orders * 1.2 * online_share
        )
        daily = (share[:, None] * units[None, :]).ravel()
        self.threshold = np.ceil(daily * rng.uniform(2.5, 5.0, size=n)).astype(np.int64) + 2
        careless = rng.random(n) < 0.1
        self.threshold[careless] = np.ceil(daily[careless] * 0.6).astype(np.int64) + 1
        self.target = (
            self.threshold + np.ceil(daily * rng.uniform(8.0, 16.0, size=n)).astype(np.int64) + 5
        )
        self.daily = daily
        self.threshold_known = rng.random(n) > 0.06
        self.every = rng.choice(_REPORT_EVERY, size=n)
        self.phase = rng.integers(0, 12, size=n)
        self.launch = np.repeat(products.launched_day, n_wh)
        self.level = np.zeros(n, dtype=np.int64)
        self.active = np.zeros(n, dtype=bool)
        self.pending_at = np.full(n, -1, dtype=np.int64)
        self.pending_units = np.zeros(n, dtype=np.int64)
        self.last_reported = np.full(n, -1, dtype=np.int64)
        self.next_id = 1
        # Every restock ordered: the purchase orders (see ``logistics.py``).
        self.restocks: list[Restock] = []
        self._open: dict[int, int] = {}  # pair -> index in restocks of its pending restock
        self.stockouts = stockouts
        for planted in stockouts:
            # A planted stockout shows against a known threshold.
            self.threshold_known[planted.product * n_wh + planted.warehouse] = True

    def day(self, d: int, demand: np.ndarray, rng: np.random.Generator) -> StockRecords:
        """Step through the 24 hours of day ``d`` with ``demand`` (pairs, 24)."""
        pairs, hours, levels, marked = [], [], [], []
        planted = {
            (s.hour, s.product * self.n_warehouses + s.warehouse): s
            for s in self.stockouts
            if s.day == d
        }
        forced = np.zeros(len(self.level), dtype=bool)
        starting = ~self.active & (self.launch <= d)
        if starting.any():
            self.active |= starting
            self.level[starting] = rng.integers(self.threshold[starting], self.target[starting] + 1)
            forced |= starting
        for h in range(24):
            g = d * 24 + h
            arrived = self.pending_at == g
            if arrived.any():
                for landed in np.flatnonzero(arrived):
                    self._open.pop(int(landed), None)
                self.level[arrived] += self.pending_units[arrived]
                self.pending_at[arrived] = -1
                forced |= arrived
            self.level = np.where(self.active, np.maximum(self.level - demand[:, h], 0), self.level)
            emptied = [p for (hour, p) in planted if hour == h]
            for p in emptied:
                self._empty(p, g, planted[(h, p)].delay_days)
                forced[p] = True
            low = self.active & (self.pending_at < 0) & (self.level <= self.threshold)
            if low.any():
                count = int(low.sum())
                delayed = rng.random(count) < 0.12
                lead_days = np.where(
                    delayed, rng.uniform(7, 15, size=count), rng.uniform(2, 5, size=count)
                )
                self.pending_at[low] = g + np.round(lead_days * 24).astype(np.int64)
                self.pending_units[low] = (
                    self.target[low]
                    - self.level[low]
                    + np.round(self.daily[low] * 3).astype(np.int64)
                )
                for lacking, late in zip(np.flatnonzero(low), delayed, strict=True):
                    self._order(int(lacking), g, bool(late))
            due = (g + self.phase) % self.every == 0
            report = self.active & (forced | (due & (self.level != self.last_reported)))
            chosen = np.flatnonzero(report)
            if len(chosen):
                pairs.append(chosen)
                hours.append(np.full(len(chosen), h))
                levels.append(self.level[chosen])
                marked.append(np.isin(chosen, emptied))
                self.last_reported[chosen] = self.level[chosen]
            forced[:] = False
        if not pairs:
            return StockRecords(_NONE, _NONE, _NONE, _NONE, np.zeros(0, dtype=bool))
        pair = np.concatenate(pairs)
        level = np.concatenate(levels)
        # Reported towards the end of the hour, after that hour's sales.
        ms = (
            self.world.period.epoch_ms(d)
            + np.concatenate(hours) * HOUR_MS
            + rng.integers(HOUR_MS * 3 // 4, HOUR_MS, size=len(pair))
        )
        order = np.argsort(ms, kind="stable")
        ids = np.arange(self.next_id, self.next_id + len(pair), dtype=np.int64)
        self.next_id += len(pair)
        return StockRecords(
            ids, pair[order], level[order], ms[order], np.concatenate(marked)[order]
        )

    def _empty(self, pair: int, hour: int, delay_days: int) -> None:
        """A planted stockout: the pair is found empty, and its restock lands only after the delay."""
        self.level[pair] = 0
        self.pending_at[pair] = hour + delay_days * 24
        self.pending_units[pair] = self.target[pair] + round(float(self.daily[pair]) * 3)
        if pair in self._open:  # the restock already ordered is the one held back
            i = self._open[pair]
            self.restocks[i] = Restock(
                pair,
                self.restocks[i].ordered_hour,
                int(self.pending_at[pair]),
                int(self.pending_units[pair]),
                True,
            )
        else:
            self._order(pair, hour, True)

    def _order(self, pair: int, hour: int, delayed: bool) -> None:
        """Record the restock ``pair`` has pending from ``hour`` as a purchase order."""
        self._open[pair] = len(self.restocks)
        self.restocks.append(
            Restock(pair, hour, int(self.pending_at[pair]), int(self.pending_units[pair]), delayed)
        )

    def batch(self, d: int, records: StockRecords) -> Batch:
        world = self.world
        product = records.pair // self.n_warehouses
        warehouse = records.pair % self.n_warehouses
        columns = {
            "inventory_id": render.numbers(records.inventory_id),
            "product_id": render.numbers(world.products.ids[product]),
            "warehouse_id": render.numbers(world.warehouses.ids[warehouse]),
            "stock_level": render.numbers(records.level),
            "restock_threshold": render.numbers(
                self.threshold[records.pair], self.threshold_known[records.pair]
            ),
            "last_updated": render.epochs(records.ms),
        }
        hour = (records.ms - world.period.epoch_ms(0)) // HOUR_MS
        batch = Batch("jsonl", columns, hour, context={"ms": records.ms})
        batch.rank = records.ms.astype(np.float64)
        batch.protected = records.planted.copy()
        return batch
