"""The logistics sources: a carrier's parcel hop events and the shop's purchase orders.

**Parcel hops.** Every online order leaves as one parcel with one of three
carriers. It stops at three or four places (hops): the fulfilment centre, a
sort centre or two, and the doorstep, whose ``arrive`` is the delivery. At
each hop but the last it arrives and, after a dwell, departs. The carrier
promises delivery within two or three days of the order. On some days one
(carrier, location) pair is a bottleneck: parcels arriving there that day
dwell several times longer (they depart that day or the next, when the
bottleneck shows), so some of them are delivered late; a few
parcels find no one home and are delivered two days later. The events
are the carrier API's feed (``carrier_api/parcel_hops.jsonl``, one JSON
record a line, served in ``seq`` order by ``weir.demo.carrier``); events
after the period's end have not happened yet.

**Purchase orders.** The restocks the stock simulation orders (see
``inventory.py``) are the purchase orders, in the shop's database
(``shop_db/shop.sqlite``, table ``purchase_orders``, in its state at the end
of the period): a supplier delay there, or a planted stockout's held-back
restock, is a late order, and the stockouts it causes fall while it is late.

Both carry 1-2 % dirt of the kinds ingestion must handle (see
``dirt.OUTCOMES``), counted in the manifest, and the ground truth the KPIs
can be checked against (``Manifest.truth["logistics"]``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from weir.demo.generate.dirt import code
from weir.demo.generate.inventory import Restock
from weir.demo.generate.manifest import SourceLedger
from weir.demo.generate.records import ACCEPTED, DUPLICATE, NO_KIND, QUARANTINED
from weir.demo.generate.sales import OrdersDay
from weir.demo.generate.timeline import HOUR_MS, stream
from weir.demo.generate.world import World

CARRIERS = ("parcelnet", "swiftship", "northfreight")
PROMISED_DAYS = (2, 3, 2)  # days from the order day to the promised delivery day, per carrier
FULFILMENT = "Fulfilment centre"
SORT_CENTRES = ("Midlands hub", "North sort centre")
DEPOTS = ("London depot", "Manchester depot", "Bristol depot")
DOORSTEP = "Doorstep"
SUPPLIERS = 6  # supplier ids 101..106; a product's supplier is fixed
PROMISED_LEAD_DAYS = (5, 6, 5, 7, 6, 5)  # per supplier

API_FOLDER = "carrier_api"
API_FILE = "parcel_hops.jsonl"
DB_FOLDER = "shop_db"
DB_FILE = "shop.sqlite"
# The environment variable the example's purchase_orders source takes its database URL from.
SHOP_DB_VARIABLE = "SHOP_DB_URL"

HOP_FIELDS = (
    "seq",
    "parcel_id",
    "order_id",
    "carrier",
    "hop_number",
    "location",
    "event_type",
    "timestamp",
    "promised_date",
)
BOTTLENECK_SHARE = 0.12  # the share of days with a planted bottleneck
BOTTLENECK_FACTOR = (3.0, 5.0)  # how many times longer parcels dwell there
_DWELL_HOURS = {FULFILMENT: 3.0, "sort": 5.0, "depot": 7.0}  # median dwell by kind of place

METADATA = sa.MetaData()
PURCHASE_ORDERS = sa.Table(
    "purchase_orders",
    METADATA,
    sa.Column("po_id", sa.Integer, primary_key=True),
    sa.Column("supplier_id", sa.Integer),
    sa.Column("product_id", sa.Integer, nullable=False),
    sa.Column("warehouse_id", sa.Integer, nullable=False),
    sa.Column("batch_number", sa.String(20), nullable=False),
    sa.Column("quantity", sa.Integer),
    sa.Column("promised_lead_days", sa.Integer, nullable=False),
    sa.Column("ordered_at", sa.DateTime, nullable=False),
    sa.Column("dispatched_at", sa.DateTime),
    sa.Column("delivered_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


def clear(out: Path) -> None:
    """Remove what an earlier run wrote (the API's feed and the shop's database)."""
    (out / API_FOLDER / API_FILE).unlink(missing_ok=True)
    (out / DB_FOLDER / DB_FILE).unlink(missing_ok=True)


def write_purchase_orders(engine: sa.Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Create ``purchase_orders`` in ``engine``'s database (dropped first) and insert ``rows``."""
    PURCHASE_ORDERS.drop(engine, checkfirst=True)
    PURCHASE_ORDERS.create(engine)
    with engine.begin() as con:
        for start in range(0, len(rows), 5000):
            con.execute(PURCHASE_ORDERS.insert(), list(rows[start : start + 5000]))


def _utc(ms: int) -> datetime:
    """A naive UTC datetime (the shop's database keeps UTC without a zone), to the second."""
    return datetime.fromtimestamp(ms // 1000, UTC).replace(tzinfo=None)


class Logistics:
    """Collects the online orders day by day; writes both sources at the end of the run."""

    def __init__(self, world: World, out: Path, ledgers: dict[str, SourceLedger]) -> None:
        self.world = world
        self.out = out
        self.ledgers = ledgers
        self.events: list[dict[str, Any]] = []
        self.truth: dict[str, Any] = {}
        self._bottlenecks: list[dict[str, Any]] = []
        self._plan: dict[int, tuple[str, str, float] | None] = {}
        self._parcels = 0

    # -- parcel hops -------------------------------------------------------------------
    def _hot(self, d: int) -> tuple[str, str, float] | None:
        """Day ``d``'s bottleneck, if one is planted: parcels arriving there dwell longer."""
        if d not in self._plan:
            plan = stream(self.world.seed, "bottlenecks", d)
            hot = None
            if d < self.world.period.days and plan.random() < BOTTLENECK_SHARE:
                places = SORT_CENTRES  # the busiest places: enough hops to judge by
                carrier = CARRIERS[int(plan.integers(len(CARRIERS)))]
                place = places[int(plan.integers(len(places)))]
                hot = (carrier, place, float(plan.uniform(*BOTTLENECK_FACTOR)))
                self._bottlenecks.append(
                    {"day": self.world.period.stamp(d), "carrier": carrier, "location": place}
                )
            self._plan[d] = hot
        return self._plan[d]

    def orders(self, d: int, day: OrdersDay) -> None:
        """The parcels of day ``d``'s online orders, and their hop events up to the period's end."""
        world = self.world
        period = world.period
        rng = stream(world.seed, "parcel-hops", d)
        n = len(day.product)
        day_ms = period.epoch_ms(d)
        end_ms = period.end_ms
        compact = period.compact(d)
        for i in range(n):
            order_id = f"W{compact}-{i + 1:06d}"
            c = int(rng.integers(len(CARRIERS)))
            carrier = CARRIERS[c]
            promised = period.stamp(d + PROMISED_DAYS[c])
            places = [FULFILMENT, SORT_CENTRES[int(rng.integers(len(SORT_CENTRES)))]]
            if rng.random() < 0.5:
                places.append(DEPOTS[int(rng.integers(len(DEPOTS)))])
            places.append(DOORSTEP)
            at = day_ms + int(day.hour[i]) * HOUR_MS + int(rng.integers(HOUR_MS))
            at += int(rng.uniform(1, 5) * HOUR_MS)
            self._parcels += 1
            parcel_id = f"{carrier[:2].upper()}{compact}{i + 1:06d}"
            for hop, place in enumerate(places, start=1):
                kind = "depot" if place in DEPOTS else "sort" if place in SORT_CENTRES else place
                dwell = rng.lognormal(np.log(_DWELL_HOURS.get(kind, 3.0)), 0.45) * HOUR_MS
                transit = rng.uniform(2, 7) * HOUR_MS
                hot = self._hot(int((at - period.epoch_ms(0)) // 86_400_000))
                if hot is not None and (carrier, place) == hot[:2]:
                    dwell *= hot[2]
                if at >= end_ms:
                    break
                record = {
                    "parcel_id": parcel_id,
                    "order_id": order_id,
                    "carrier": carrier,
                    "hop_number": hop,
                    "location": place,
                    "promised_date": promised,
                }
                self.events.append({**record, "event_type": "arrive", "timestamp": at // 1000})
                if place == DOORSTEP:
                    break
                at += int(dwell)
                if at >= end_ms:
                    break
                self.events.append({**record, "event_type": "depart", "timestamp": at // 1000})
                at += int(transit)
                if places[hop] == DOORSTEP and rng.random() < 0.05:
                    at += 48 * HOUR_MS  # no one home: delivered on a later round, two days on

    def _write_hops(self) -> None:
        """The API's feed: events in the order the carrier posted them, dirt mixed in."""
        rng = stream(self.world.seed, "parcel-hops-dirt")
        events = self.events
        # Most events are posted within minutes; about 1 % hours late.
        posted = np.array([e["timestamp"] for e in events], dtype=np.int64)
        posted += rng.integers(30, 900, size=len(events))
        late = rng.random(len(events)) < 0.01
        posted[late] += rng.integers(3 * 3600, 10 * 3600, size=int(late.sum()))
        order = np.argsort(posted, kind="stable")
        feed: list[dict[str, Any]] = []
        status: list[int] = []
        kinds: list[int] = []
        rescans = 0
        draw = rng.random(len(events))
        for i in order:
            event = dict(events[int(i)])
            roll = draw[int(i)]
            kind = NO_KIND
            if roll < 0.003:
                event["timestamp"] = "2026-13-45T25:61"
                kind = code("wrong_type")
            elif roll < 0.005:
                event["carrier"] = "speedyexpress"
                kind = code("unknown_enum")
            elif roll < 0.007:
                event["location"] = None
                kind = code("null_required")
            feed.append(event)
            status.append(ACCEPTED if kind == NO_KIND else QUARANTINED)
            kinds.append(kind)
            if kind != NO_KIND:
                continue
            if roll > 0.995:  # the carrier sent the event twice
                feed.append(dict(event))
                status.append(DUPLICATE)
                kinds.append(code("duplicate"))
            elif roll > 0.991:  # scanned again minutes later: a repeated event, counted once
                feed.append(
                    {**event, "timestamp": event["timestamp"] + int(rng.integers(300, 2400))}
                )
                status.append(ACCEPTED)
                kinds.append(NO_KIND)
                rescans += 1
        for seq, event in enumerate(feed, start=1):
            event["seq"] = seq
        folder = self.out / API_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / API_FILE).open("w", encoding="utf-8") as out:
            for event in feed:
                out.write(json.dumps({k: event[k] for k in HOP_FIELDS}) + "\n")
        ledger = self.ledgers["parcel_hops"]
        ledger.files = 1 if feed else 0
        ledger.count(np.array(status, dtype=np.int8), np.array(kinds, dtype=np.int16))
        # Deliveries as weir must find them: the earliest accepted arrival at the doorstep.
        delivered: dict[str, tuple[int, str]] = {}
        for event, state in zip(feed, status, strict=True):
            if state == ACCEPTED and event["location"] == DOORSTEP:
                seen = delivered.get(event["parcel_id"])
                if seen is None or event["timestamp"] < seen[0]:
                    delivered[event["parcel_id"]] = (event["timestamp"], event["promised_date"])
        self.truth["parcels"] = self._parcels
        self.truth["parcels_delivered"] = len(delivered)
        self.truth["late_parcels"] = sum(
            datetime.fromtimestamp(at, UTC).date().isoformat() > promised
            for at, promised in delivered.values()
        )
        self.truth["rescanned_events"] = rescans
        self.truth["bottlenecks_planted"] = sorted(
            self._bottlenecks, key=lambda b: (b["day"], b["carrier"])
        )

    # -- purchase orders ---------------------------------------------------------------
    def _write_purchase_orders(self, restocks: Sequence[Restock], n_warehouses: int) -> None:
        world = self.world
        period = world.period
        rng = stream(world.seed, "purchase-orders")
        end_ms = period.end_ms
        start_ms = period.epoch_ms(0)
        rows: list[dict[str, Any]] = []
        status: list[int] = []
        kinds: list[int] = []
        late = 0
        for po_id, r in enumerate(sorted(restocks, key=lambda r: (r.ordered_hour, r.pair)), 1):
            product, warehouse = divmod(r.pair, n_warehouses)
            supplier = product % SUPPLIERS
            ordered = start_ms + r.ordered_hour * HOUR_MS + int(rng.integers(HOUR_MS))
            delivered = start_ms + r.due_hour * HOUR_MS + int(rng.integers(HOUR_MS // 2))
            dispatched = ordered + int((delivered - ordered) * rng.uniform(0.25, 0.6))
            promised = PROMISED_LEAD_DAYS[supplier]
            row: dict[str, Any] = {
                "po_id": po_id,
                "supplier_id": 101 + supplier,
                "product_id": int(world.products.ids[product]),
                "warehouse_id": int(world.warehouses.ids[warehouse]),
                "batch_number": f"B{period.compact(r.ordered_hour // 24)[2:]}-{po_id:05d}",
                "quantity": r.units,
                "promised_lead_days": promised,
                "ordered_at": _utc(ordered),
                "dispatched_at": _utc(dispatched) if dispatched < end_ms else None,
                "delivered_at": _utc(delivered) if delivered < end_ms else None,
            }
            changed = max(m for m in (ordered, dispatched, delivered) if m < end_ms)
            row["updated_at"] = _utc(changed)
            is_late = delivered < end_ms and delivered - ordered > promised * 86_400_000
            roll = rng.random()
            kind = NO_KIND
            if roll < 0.005:
                row["quantity"] = "abc"
                kind = code("wrong_type")
            elif roll < 0.01:
                row["supplier_id"] = None
                kind = code("null_required")
            elif roll < 0.015:
                row["quantity"] = 0
                kind = code("out_of_range")
            rows.append(row)
            late += int(is_late and kind == NO_KIND)  # as weir must find them: accepted rows
            status.append(ACCEPTED if kind == NO_KIND else QUARANTINED)
            kinds.append(kind)
        folder = self.out / DB_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(f"sqlite:///{folder / DB_FILE}")
        try:
            write_purchase_orders(engine, rows)
        finally:
            engine.dispose()
        ledger = self.ledgers["purchase_orders"]
        ledger.files = 1 if rows else 0
        ledger.count(np.array(status, dtype=np.int8), np.array(kinds, dtype=np.int16))
        self.truth["purchase_orders"] = len(rows)
        self.truth["purchase_orders_delivered_late"] = late

    def close(self, restocks: Sequence[Restock], n_warehouses: int) -> None:
        """Write the carrier API's feed and the shop's database."""
        self._write_hops()
        self._write_purchase_orders(restocks, n_warehouses)
