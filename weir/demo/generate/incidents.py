"""Known incidents planted in the generated history, for a data-quality monitor to find.

Real feeds break in a few recurring ways, and a monitor is only worth its
alerts if it finds them. The generator plants four kinds, each on a day drawn
from the seed, and lists every one in the manifest (``"incidents"``), so what
a monitor reports can be checked against the truth:

- ``tracker_outage``: the web tracker broke for most of a day; that day's
  clickstream events in the outage hours were never sent (80-90 % of the day's
  events), so sessions and every web KPI collapse while orders carry on;
- ``missing_pos_file``: one store's POS file for a day never arrived: no file,
  no rows, so that day's sales are short by the store's takings (the stock it
  sold still left its warehouse);
- ``duplicate_burst``: a sender re-sent a large share of one day's records;
  ingestion counts every re-sent copy as a duplicate;
- ``stockout``: a product ran out in a warehouse: its stock is found at zero
  (at or below its restock threshold) and a late supplier delivery keeps it
  there for a week or two.

A detector needs history to compare with, so outages, missing files and
duplicate bursts fall at least five weeks into the period, never on its last
day (the day the demo's live traffic replays), and not at all when the
period is shorter than six weeks; stockouts may fall on any day. A period of
up to four months gets one incident of each kind, a longer one two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from weir.demo.generate.sales import PosDay
from weir.demo.generate.timeline import HOUR_MS, stream
from weir.demo.generate.web import SESSION_HOURS, WebDay
from weir.demo.generate.world import World

IncidentKind = Literal["tracker_outage", "missing_pos_file", "duplicate_burst", "stockout"]
INCIDENT_KINDS: tuple[IncidentKind, ...] = get_args(IncidentKind)

FIRST_INCIDENT_DAY = 35  # five weeks of history before the first outage, gap or burst
MIN_DAYS = 42  # below six weeks, only stockouts are planted
TWICE_FROM_DAYS = 120  # from four months on, two incidents of each kind
# Sources whose sender may re-send a day's records in a burst.
BURST_SOURCES = ("orders", "inventory", "web_traffic", "crm_interactions")
_OUTAGE_SHARE = (0.81, 0.89)  # the share of a day's sessions that fall in an outage window


@dataclass(frozen=True)
class Incident:
    """One planted incident as the manifest lists it."""

    kind: IncidentKind
    day: str  # YYYY-MM-DD
    source: str
    subject: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        kind = str(data["kind"])
        if kind not in INCIDENT_KINDS:
            raise ValueError(f"unknown incident kind {kind!r}")
        return cls(
            kind=kind,  # type: ignore[arg-type]
            day=str(data["day"]),
            source=str(data["source"]),
            subject=str(data["subject"]),
            detail=str(data["detail"]),
        )


@dataclass(frozen=True)
class Outage:
    """No web event between ``start_hour`` and ``end_hour`` (exclusive) of day ``day``."""

    day: int
    start_hour: int
    end_hour: int


@dataclass(frozen=True)
class MissingFile:
    day: int
    store: int  # store index


@dataclass(frozen=True)
class Burst:
    day: int
    source: str
    share: float  # of the day's accepted records, re-sent


@dataclass(frozen=True)
class Stockout:
    day: int
    hour: int
    product: int  # product index
    warehouse: int  # warehouse index
    delay_days: int  # until the late restock lands


@dataclass(frozen=True)
class IncidentPlan:
    """Where each incident of a run falls; an empty plan plants nothing."""

    outages: tuple[Outage, ...] = ()
    missing: tuple[MissingFile, ...] = ()
    bursts: tuple[Burst, ...] = ()
    stockouts: tuple[Stockout, ...] = ()

    def outage_on(self, d: int) -> Outage | None:
        return next((o for o in self.outages if o.day == d), None)

    def missing_stores(self, d: int) -> set[int]:
        return {m.store for m in self.missing if m.day == d}

    def burst_share(self, source: str, d: int) -> float:
        return sum(b.share for b in self.bursts if b.source == source and b.day == d)

    def stockouts_on(self, d: int) -> tuple[Stockout, ...]:
        return tuple(s for s in self.stockouts if s.day == d)

    def incidents(self, world: World) -> tuple[Incident, ...]:
        """The plan as the manifest lists it, by day then kind."""
        period, stores, products = world.period, world.stores, world.products
        found: list[Incident] = []
        for o in self.outages:
            found.append(
                Incident(
                    "tracker_outage",
                    period.stamp(o.day),
                    "web_traffic",
                    "web tracker",
                    f"the tracker sent nothing from {o.start_hour:02d}:00 to {o.end_hour:02d}:00 UTC:"
                    f" about {outage_share(o):.0%} of the day's web events are missing",
                )
            )
        for m in self.missing:
            store_id = int(stores.ids[m.store])
            width = max(3, len(str(int(stores.ids.max()))))
            found.append(
                Incident(
                    "missing_pos_file",
                    period.stamp(m.day),
                    "pos",
                    f"store_id={store_id}",
                    f"pos_{period.stamp(m.day)}_store{store_id:0{width}d}.csv never arrived:"
                    f" {stores.names[m.store]}'s sales of the day are absent",
                )
            )
        for b in self.bursts:
            found.append(
                Incident(
                    "duplicate_burst",
                    period.stamp(b.day),
                    b.source,
                    f"{b.source} sender",
                    f"the sender re-sent about {b.share:.0%} of the day's records;"
                    " ingestion counts each copy as a duplicate",
                )
            )
        for s in self.stockouts:
            product_id = int(products.ids[s.product])
            warehouse_id = int(world.warehouses.ids[s.warehouse])
            found.append(
                Incident(
                    "stockout",
                    period.stamp(s.day),
                    "inventory",
                    f"product_id={product_id} warehouse_id={warehouse_id}",
                    f"{products.names[s.product]} ran out at"
                    f" {world.warehouses.names[s.warehouse]} at {s.hour:02d}:00 UTC"
                    f" (stock_level 0, below its restock threshold); the supplier's delivery"
                    f" is late until {period.stamp(s.day + s.delay_days)}",
                )
            )
        order = {kind: i for i, kind in enumerate(INCIDENT_KINDS)}
        return tuple(sorted(found, key=lambda i: (i.day, order[i.kind], i.source, i.subject)))


def outage_share(outage: Outage) -> float:
    """The share of a day's sessions that start in the outage's hours."""
    weights = SESSION_HOURS / SESSION_HOURS.sum()
    return float(weights[outage.start_hour : outage.end_hour].sum())


def _outage_windows() -> list[tuple[int, int]]:
    windows = []
    for start in range(24):
        for end in range(start + 1, 25):
            share = outage_share(Outage(0, start, end))
            if _OUTAGE_SHARE[0] <= share <= _OUTAGE_SHARE[1]:
                windows.append((start, end))
    return windows


_WINDOWS = _outage_windows()


def plan_incidents(world: World) -> IncidentPlan:
    """Where the run's incidents fall: a function of the seed and the period only."""
    period, stores, products = world.period, world.stores, world.products
    days = period.days
    rng = stream(world.seed, "incidents")
    each = 1 if days < TWICE_FROM_DAYS else 2
    outages: list[Outage] = []
    missing: list[MissingFile] = []
    bursts: list[Burst] = []
    if days >= MIN_DAYS:
        # Distinct days, none the last, nor the middle one (its POS file with a renamed column).
        candidates = [d for d in range(FIRST_INCIDENT_DAY, days - 1) if d != days // 2]
        picked = [int(d) for d in rng.choice(candidates, size=3 * each, replace=False)]
        outage_days, missing_days, burst_days = (
            picked[:each],
            picked[each : 2 * each],
            picked[2 * each :],
        )
        for d in outage_days:
            start, end = _WINDOWS[int(rng.integers(len(_WINDOWS)))]
            outages.append(Outage(d, start, end))
        for d in missing_days:
            open_stores = stores.open_on(d)
            missing.append(MissingFile(d, int(rng.choice(open_stores))))
        for d in burst_days:
            source = BURST_SOURCES[int(rng.integers(len(BURST_SOURCES)))]
            bursts.append(Burst(d, source, round(float(rng.uniform(0.3, 0.6)), 2)))
    supplying = np.unique(np.concatenate([stores.warehouse, world.warehouses.online]))
    stockouts: list[Stockout] = []
    for d in sorted(int(x) for x in rng.integers(0, days, size=each)):
        launched = products.launched_by(d)
        weights = products.popularity[:launched] / products.popularity[:launched].sum()
        stockouts.append(
            Stockout(
                day=d,
                hour=int(rng.integers(9, 19)),
                product=int(rng.choice(launched, p=weights)),
                warehouse=int(rng.choice(supplying)),
                delay_days=int(rng.integers(7, 15)),
            )
        )
    return IncidentPlan(tuple(outages), tuple(missing), tuple(bursts), tuple(stockouts))


def without_outage(day: WebDay, outage: Outage, day_ms: int) -> WebDay:
    """The day's web events but those the broken tracker never sent."""
    start = day_ms + outage.start_hour * HOUR_MS
    end = day_ms + outage.end_hour * HOUR_MS
    kept = np.flatnonzero((day.ms < start) | (day.ms >= end))
    return dataclasses.replace(
        day,
        session=day.session[kept],
        page=day.page[kept],
        device=day.device[kept],
        browser=day.browser[kept],
        event=day.event[kept],
        element=day.element[kept],
        ms=day.ms[kept],
        experiment=day.experiment[kept],
        variant=day.variant[kept],
    )


def without_stores(day: PosDay, stores: set[int]) -> PosDay:
    """The day's POS lines but those of ``stores``, whose files never arrived."""
    kept = np.flatnonzero(~np.isin(day.store, sorted(stores)))
    per_line = {
        f.name: getattr(day, f.name)[kept] for f in dataclasses.fields(day) if f.name != "cards"
    }
    return dataclasses.replace(day, **per_line)
