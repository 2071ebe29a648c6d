"""The entity sources' daily full extracts: stores, warehouses, products, customers, demographics.

An extract dated D is the state at the start of D: stores opened by D,
products launched by D at the cost price in force on D, customers who signed
up before D with the address they had then. Customers are the bulk of it, so
their lines are rendered once per run and each day's file is a selection of
them; bad copies of a few rows are added per day (see ``dirt.soil_extract``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import dirt_plans, render
from weir.demo.generate.customers import COUNTRIES
from weir.demo.generate.dirt import soil_extract, soil_table
from weir.demo.generate.manifest import SourceLedger
from weir.demo.generate.records import Batch, Lines
from weir.demo.generate.timeline import Period, stream
from weir.demo.generate.world import PRODUCT_TYPES, REGIONS, World
from weir.demo.generate.writers import FileSink, FileWriter, write_json_array, write_parquet

STORE_COLUMNS = ("store_id", "name", "city", "region", "country", "opened_on")
WAREHOUSE_COLUMNS = ("warehouse_id", "name", "region")
PRODUCT_COLUMNS = (
    "product_id",
    "name",
    "type",
    "color",
    "size",
    "material",
    "cost_price",
    "list_price",
    "launched_on",
)
CUSTOMER_COLUMNS = (
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "country",
    "created_at",
)
DEMOGRAPHIC_COLUMNS = ("customer_id", "age", "gender", "marital_status", "parental_status")


def _daily_name(source: str, period: Period) -> Callable[[int], str]:
    return lambda d: f"{source}_{period.stamp(d)}.csv"


def _header(columns: tuple[str, ...]) -> bytes:
    return (",".join(columns) + "\n").encode("ascii")


class Extracts:
    """Writes each day's extract of every entity source."""

    def __init__(
        self, world: World, out: Path, ledgers: Mapping[str, SourceLedger], writer: FileWriter
    ) -> None:
        """Extracts of the sources that have a ledger in ``ledgers`` (a run may split them)."""
        self.world = world
        self.out = out
        self.ledgers = ledgers
        self.writer = writer
        period = world.period
        days = range(period.days)
        self.sinks = {
            name: FileSink(
                writer,
                out / name,
                ledgers[name],
                _daily_name(name, period),
                days,
                header=_header(columns),
            )
            for name, columns in (
                ("stores", STORE_COLUMNS),
                ("products", PRODUCT_COLUMNS),
                ("customers", CUSTOMER_COLUMNS),
            )
            if name in ledgers
        }
        customers = world.customers
        if "customers" in ledgers:
            everyone = np.arange(customers.n)
            base = self._customer_batch(everyone, customers.address, 0).lines().text
            moved = self._customer_batch(customers.movers, customers.new_address, 0).lines().text
            self._customer_text = pa.concat_arrays([base, moved])
        if "customer_demographics" in ledgers:
            self._demographics = self._demographic_table()
        products = world.products
        self._product_columns = {
            "product_id": render.numbers(products.ids),
            "name": render.strings(products.names),
            "type": render.strings([PRODUCT_TYPES[t] for t in products.type]),
            "color": render.strings(products.color),
            "size": render.strings(products.size),
            "material": render.strings(products.material),
            "list_price": render.money(products.list_cents),
            "launched_on": render.strings(
                [period.stamp(int(day)) for day in products.launched_day]
            ),
        }

    def write_day(self, d: int) -> None:
        first = d == 0
        for name, write in (
            ("stores", self._stores),
            ("warehouses", self._warehouses),
            ("products", self._products),
            ("customers", self._customers),
            ("customer_demographics", self._demographics_day),
        ):
            if name in self.ledgers:
                write(d, stream(self.world.seed, f"{name}-extract", d), first)

    def close(self) -> None:
        for sink in self.sinks.values():
            sink.flush()

    # -- stores, warehouses, products -------------------------------------------------
    def _stores(self, d: int, rng: np.random.Generator, first: bool) -> None:
        rows = self.world.stores.open_on(d)
        lines = self._stores_batch(d, rows).lines()
        soiled = soil_extract(
            lines, lambda r: self._stores_batch(d, rows[r]), dirt_plans.STORES, rng, first=first
        )
        self.sinks["stores"].add(*soiled)
        self.sinks["stores"].flush(d + 1)

    def _stores_batch(self, d: int, rows: np.ndarray) -> Batch:
        stores, period = self.world.stores, self.world.period
        columns = {
            "store_id": render.numbers(stores.ids[rows]),
            "name": render.strings([stores.names[i] for i in rows]),
            "city": render.strings([stores.cities[i] for i in rows]),
            "region": render.strings([REGIONS[r] for r in stores.region[rows]]),
            "country": render.strings(["GB"] * len(rows)),
            "opened_on": render.strings(
                [period.stamp(int(day)) for day in stores.opened_day[rows]]
            ),
        }
        return Batch("csv", columns, d)

    def _warehouses(self, d: int, rng: np.random.Generator, first: bool) -> None:
        rows = np.arange(len(self.world.warehouses.ids))
        lines = self._warehouses_batch(d, rows).lines()
        soiled = soil_extract(
            lines,
            lambda r: self._warehouses_batch(d, rows[r]),
            dirt_plans.WAREHOUSES,
            rng,
            first=first,
        )
        path = self.out / "warehouses" / f"warehouses_{self.world.period.stamp(d)}.json"
        write_json_array(self.writer, path, soiled, self.ledgers["warehouses"])

    def _warehouses_batch(self, d: int, rows: np.ndarray) -> Batch:
        warehouses = self.world.warehouses
        columns = {
            "warehouse_id": render.numbers(warehouses.ids[rows]),
            "name": render.strings([warehouses.names[i] for i in rows]),
            "region": render.strings([REGIONS[r] for r in warehouses.region[rows]]),
        }
        return Batch("jsonl", columns, d)

    def _products(self, d: int, rng: np.random.Generator, first: bool) -> None:
        rows = np.arange(self.world.products.launched_by(d))
        lines = self._products_batch(d, rows).lines()
        soiled = soil_extract(
            lines, lambda r: self._products_batch(d, rows[r]), dirt_plans.PRODUCTS, rng, first=first
        )
        self.sinks["products"].add(*soiled)
        self.sinks["products"].flush(d + 1)

    def _products_batch(self, d: int, rows: np.ndarray) -> Batch:
        taken = pa.array(rows)
        columns = {name: values.take(taken) for name, values in self._product_columns.items()}
        columns["cost_price"] = render.money(self.world.products.cost_cents[rows, d])
        return Batch("csv", {name: columns[name] for name in PRODUCT_COLUMNS}, d)

    # -- customers ---------------------------------------------------------------------
    def _customers(self, d: int, rng: np.random.Generator, first: bool) -> None:
        customers = self.world.customers
        count = customers.signed_up_before(self.world.period.epoch_ms(d))
        rows = np.arange(count)
        text_rows = rows.copy()
        moved = (customers.move_day <= d) & (customers.movers < count)
        text_rows[customers.movers[moved]] = customers.n + np.flatnonzero(moved)
        lines = Lines.uniform(self._customer_text.take(pa.array(text_rows)), d)

        def render_rows(r: np.ndarray) -> Batch:
            address = self._addresses_on(d, rows[r])
            return self._customer_batch(rows[r], address, d)

        soiled = soil_extract(lines, render_rows, dirt_plans.CUSTOMERS, rng, first=first)
        self.sinks["customers"].add(*soiled)
        self.sinks["customers"].flush(d + 1)

    def _addresses_on(self, d: int, rows: np.ndarray) -> pa.Array:
        customers = self.world.customers
        address = customers.address.take(pa.array(rows))
        mover = np.searchsorted(customers.movers, rows)
        mover = np.minimum(mover, max(len(customers.movers) - 1, 0))
        if not len(customers.movers):
            return address
        moved = (customers.movers[mover] == rows) & (customers.move_day[mover] <= d)
        new = customers.new_address.take(pa.array(mover))
        return pc.if_else(pa.array(moved), new, address)

    def _customer_batch(self, rows: np.ndarray, address: pa.Array, d: int) -> Batch:
        """Customers ``rows``, living at ``address`` (one per row)."""
        customers = self.world.customers
        taken = pa.array(rows)
        columns = {
            "customer_id": render.numbers(customers.ids[rows]),
            "first_name": customers.first.take(taken),
            "last_name": customers.last.take(taken),
            "email": customers.email.take(taken),
            "phone": customers.phone.take(taken),
            "address": address,
            "country": render.strings(np.array(COUNTRIES, dtype=object)[customers.country[rows]]),
            "created_at": render.epochs(customers.created_ms[rows]),
        }
        return Batch("csv", columns, d)

    # -- demographics ------------------------------------------------------------------
    def _demographic_table(self) -> pa.Table:
        customers = self.world.customers
        rows = np.flatnonzero(customers.has_demographics)
        return pa.table(
            {
                "customer_id": pa.array(customers.ids[rows], pa.int64()),
                "age": pa.array(customers.age[rows], pa.int64(), mask=~customers.age_known[rows]),
                "gender": pa.array([customers.gender[i] for i in rows], pa.string()),
                "marital_status": pa.array([customers.marital[i] for i in rows], pa.string()),
                "parental_status": pa.array([customers.parental[i] for i in rows], pa.string()),
            }
        )

    def _demographics_day(self, d: int, rng: np.random.Generator, first: bool) -> None:
        count = self.world.customers.signed_up_before(self.world.period.epoch_ms(d))
        ids = self._demographics["customer_id"].to_numpy()
        table = self._demographics.slice(0, int(np.searchsorted(ids, count, side="right")))
        table, status, kind = soil_table(
            table,
            dirt_plans.CUSTOMER_DEMOGRAPHICS,
            dirt_plans.CUSTOMER_DEMOGRAPHICS_RATE,
            rng,
            first=first,
        )
        path = (
            self.out
            / "customer_demographics"
            / f"customer_demographics_{self.world.period.stamp(d)}.parquet"
        )
        write_parquet(self.writer, path, table, status, kind, self.ledgers["customer_demographics"])
