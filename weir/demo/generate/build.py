"""One run of the generator: the retailer's world, then every source day by day, then the manifest.

Days are generated in order because inventory carries its stock from one day
to the next and because copies and late events may be bound for the next
day's files; each source's files are written as soon as nothing more can
arrive for them, so memory holds about a day of data whatever the period.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np

from weir.demo.generate import dirt_plans
from weir.demo.generate.crm import crm_batch, interactions
from weir.demo.generate.dirt import EventPlan, code, soil_events
from weir.demo.generate.errors import GenerateError
from weir.demo.generate.extracts import Extracts
from weir.demo.generate.inventory import StockKeeper
from weir.demo.generate.manifest import MANIFEST_FILE, Manifest, SourceLedger
from weir.demo.generate.records import ACCEPTED, Batch, Lines
from weir.demo.generate.sales import POS_COLUMNS, demand, orders_batch, orders_day, pos_batch, pos_day
from weir.demo.generate.timeline import Period, stream
from weir.demo.generate.web import Clickstream
from weir.demo.generate.world import World, build_world
from weir.demo.generate.writers import FileSink

SOURCES = (
    "stores", "warehouses", "products", "customers", "customer_demographics",
    "pos", "inventory", "orders", "web_traffic", "crm_interactions",
)
_EXTENSIONS = {
    "stores": ".csv", "warehouses": ".json", "products": ".csv", "customers": ".csv",
    "customer_demographics": ".parquet", "pos": ".csv", "inventory": ".jsonl", "orders": ".xml",
    "web_traffic": ".jsonl", "crm_interactions": ".jsonl",
}
_XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n'
_XML_TAIL = b"</orders>\n"


def generate(
    out: Path, *, days: int = 30, scale: float = 1.0, seed: int = 7, start: date = date(2025, 1, 1)
) -> Manifest:
    """Write ``days`` of the reference retailer's files under ``out/<source>/`` and ``out/manifest.json``.

    The same arguments always give byte-identical files. Files a previous run left
    in the sources' folders are removed first: ingestion would count them, and
    the manifest would not.
    """
    _check(days, scale, seed)
    out = Path(out)
    _clear(out)
    period = Period(start, days)
    world = build_world(period, scale, seed)
    ledgers = {name: SourceLedger() for name in SOURCES}
    _Run(world, out, ledgers).all_days()
    manifest = Manifest(
        seed=seed, days=days, scale=scale, start=start.isoformat(),
        sources={name: ledger.counts() for name, ledger in ledgers.items()},
    )
    manifest.write(out)
    return manifest


def _check(days: int, scale: float, seed: int) -> None:
    if days < 1:
        raise GenerateError(f"days must be at least 1, not {days}", "pass --days 1 or more")
    if not 0 < scale <= 100:
        raise GenerateError(f"scale must be above 0 and at most 100, not {scale}", "1.0 is a mid-size retailer")
    if seed < 0:
        raise GenerateError(f"seed must be zero or positive, not {seed}", "pass --seed 7, for example")


def _clear(out: Path) -> None:
    for name, extension in _EXTENSIONS.items():
        folder = out / name
        if folder.is_dir():
            for path in sorted(folder.glob(f"*{extension}")):
                path.unlink()
    (out / MANIFEST_FILE).unlink(missing_ok=True)


class _Run:
    """The event sources' files and the day loop."""

    def __init__(self, world: World, out: Path, ledgers: dict[str, SourceLedger]) -> None:
        self.world = world
        period = world.period
        self.n_stores = n_stores = len(world.stores.ids)
        store_ids = world.stores.ids
        width = max(3, len(str(int(store_ids.max()))))
        pos_keys = [d * n_stores + int(s) for d in range(period.days) for s in world.stores.open_on(d)]
        self.pos = FileSink(
            out / "pos", ledgers["pos"],
            lambda k: f"pos_{period.stamp(k // n_stores)}_store{int(store_ids[k % n_stores]):0{width}d}.csv",
            pos_keys, header=(",".join(POS_COLUMNS) + "\n").encode("ascii"),
        )
        hours, days = range(period.hours), range(period.days)
        self.inventory = FileSink(
            out / "inventory", ledgers["inventory"], lambda h: f"inventory_{period.hour_stamp(h)}.jsonl", hours
        )
        self.orders = FileSink(
            out / "orders", ledgers["orders"], lambda d: f"orders_{period.stamp(d)}.xml", days,
            header=_XML_HEAD, footer=_XML_TAIL,
        )
        self.web = FileSink(
            out / "web_traffic", ledgers["web_traffic"], lambda h: f"web_traffic_{period.hour_stamp(h)}.jsonl", hours
        )
        self.crm = FileSink(
            out / "crm_interactions", ledgers["crm_interactions"],
            lambda d: f"crm_interactions_{period.stamp(d)}.jsonl", days,
        )
        self._pick_odd_pos_files(pos_keys)
        self.extracts = Extracts(world, out, ledgers)

    def _pick_odd_pos_files(self, keys: list[int]) -> None:
        """One store-day file is sent twice; another arrives with a renamed column."""
        rng = stream(self.world.seed, "pos-files")
        days = self.world.period.days
        resent_day = min(1, days - 1)
        renamed_day = days // 2
        on = np.array(keys)
        resent = int(rng.choice(on[on // self.n_stores == resent_day]))
        others = on[(on // self.n_stores == renamed_day) & (on != resent)]
        renamed = int(rng.choice(others))
        self.pos.resend.add(resent)
        header = (",".join(POS_COLUMNS) + "\n").replace("discount_applied", "discount")
        self.pos.headers[renamed] = header.encode("ascii")

    def all_days(self) -> None:
        world, seed = self.world, self.world.seed
        period = world.period
        stock = StockKeeper(world, stream(seed, "stock"))
        clicks = Clickstream(world)
        crm = interactions(world, seed)
        last_hour, last_day = period.hours - 1, period.days - 1
        last_store_day = period.days * self.n_stores - 1
        for d in range(period.days):
            first = d == 0
            self.extracts.write_day(d)

            sold = pos_day(world, d, stream(seed, "pos", d))
            self._emit(self.pos, pos_batch(world, d, sold), dirt_plans.POS, "pos", d, last_store_day)
            ordered = orders_day(world, d, stream(seed, "orders", d))
            self._emit(self.orders, orders_batch(world, d, ordered), dirt_plans.ORDERS, "orders", d, last_day)

            taken = demand(world, d, sold, ordered, stream(seed, "demand", d))
            records = stock.day(d, taken, stream(seed, "stock", d))
            self._emit(self.inventory, stock.batch(d, records), dirt_plans.INVENTORY, "inventory", d, last_hour)

            web_day = clicks.day(d, stream(seed, "web", d))
            self._emit(self.web, clicks.batch(d, web_day), dirt_plans.WEB_TRAFFIC, "web", d, last_hour)
            self._emit(self.crm, crm_batch(world, d, crm), dirt_plans.CRM_INTERACTIONS, "crm", d, last_day)

            self.pos.flush((d + 1) * self.n_stores)
            self.orders.flush(d + 1)
            self.inventory.flush((d + 1) * 24)
            self.web.flush((d + 1) * 24)
            self.crm.flush(d + 1)
            del first
        for sink in (self.pos, self.orders, self.inventory, self.web, self.crm):
            sink.flush()
        self.extracts.close()

    def _emit(self, sink: FileSink, batch: Batch, plan: EventPlan, name: str, d: int, last_key: int) -> None:
        lines = soil_events(batch, plan, stream(self.world.seed, f"{name}-dirt", d), first=d == 0, last_key=last_key)
        if plan.id_column is not None:
            _check_hashless(lines, name)
        sink.add(lines)


def _check_hashless(lines: Lines, name: str) -> None:
    """Records without an event id are told apart by content: two must never be equal."""
    rows = np.flatnonzero((lines.kind == code("missing_event_id")) & (lines.status == ACCEPTED))
    texts = lines.texts(rows)
    if len(set(texts)) != len(texts):
        raise AssertionError(f"{name}: two records without an event id have the same content")
