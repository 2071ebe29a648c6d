"""The accounting system's monthly profit and loss, exported as a spreadsheet (``accounting_pnl``).

The books see every sale the business made, not the files weir received: a
store whose till file never arrived still sold, a record the tills mangled
was still paid. So the accounting revenue of a month is close to weir's
``revenue`` but not equal to it; the gap (``pnl_revenue_gap``) is what a
finance team reconciles. Per month of the period:

- ``revenue``: POS revenue (gross, as the tills record it) plus online order
  revenue of every sale, less returns refunded (0.2 to 0.8 %);
- ``cogs``: units sold * the product's cost price of the day of the sale;
- ``taxes``: the tax on online orders;
- ``other_charges``: rent, wages and marketing: a fixed share of revenue with
  some noise (24 to 30 %).

The world starts on the period's first day, so a month the period only
partly covers holds the days it covers (the last one is month to date). Each
month is exported as a workbook named by the first day it covers,
``accounting_pnl_<YYYY-MM-DD>.xlsx``, with one sheet named ``YYYY-MM``: a
title on row 1, the header on row 2, the month's one record on row 3.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from weir.demo.generate.customers import TAX_RATES
from weir.demo.generate.manifest import SourceLedger
from weir.demo.generate.sales import OrdersDay, PosDay
from weir.demo.generate.timeline import stream
from weir.demo.generate.world import World

PNL_COLUMNS = ("month", "revenue", "cogs", "taxes", "other_charges")
EXTENSION = ".xlsx"


@dataclass
class _Month:
    revenue_cents: int = 0
    cogs_cents: int = 0
    tax_cents: float = 0.0
    days: list[int] = field(default_factory=list)


class Books:
    """The month-by-month totals of every sale, written as the accounting export at the end."""

    def __init__(self, world: World, out: Path, ledger: SourceLedger | None) -> None:
        self.world = world
        self.folder = out / "accounting_pnl"
        self.ledger = ledger
        self.months: dict[str, _Month] = {}

    def day(self, d: int, sold: PosDay, ordered: OrdersDay) -> None:
        """Book day ``d``'s store sales (all of them, whether their file arrives) and orders."""
        if self.ledger is None:
            return
        world = self.world
        month = self.months.setdefault(world.period.day(d).strftime("%Y-%m"), _Month())
        month.days.append(d)
        cost = world.products.cost_cents[:, d]
        online = ordered.quantity * world.products.list_cents[ordered.product]
        tax = np.array(TAX_RATES)[world.customers.country[ordered.customer]]
        month.revenue_cents += int(sold.revenue_cents.sum()) + int(online.sum())
        month.cogs_cents += int((sold.quantity * cost[sold.product]).sum())
        month.cogs_cents += int((ordered.quantity * cost[ordered.product]).sum())
        month.tax_cents += float((online * tax).sum())

    def close(self) -> None:
        """Write one workbook per month; count its records."""
        if self.ledger is None:
            return
        from openpyxl import Workbook  # only the generator writes spreadsheets

        self.folder.mkdir(parents=True, exist_ok=True)
        for name, month in sorted(self.months.items()):
            first = self.world.period.day(month.days[0])
            last = self.world.period.day(month.days[-1])
            book = Workbook()
            sheet = book.active
            sheet.title = name
            sheet.append([f"Profit and loss {name} ({first} to {last})"])
            sheet.append(list(PNL_COLUMNS))
            sheet.append([name, *self._figures(name, month)])
            _save(book, self.folder / f"accounting_pnl_{first.isoformat()}{EXTENSION}", last)
            self.ledger.files += 1
        n = len(self.months)
        self.ledger.count(np.zeros(n, np.int8), np.full(n, -1, np.int8))

    def _figures(self, name: str, month: _Month) -> list[float]:
        rng = stream(self.world.seed, "accounting", int(name[:4]) * 12 + int(name[5:]))
        returns = rng.uniform(0.002, 0.008)
        revenue = round(month.revenue_cents * (1 - returns)) / 100
        charges = round(month.revenue_cents * rng.uniform(0.24, 0.30)) / 100
        return [revenue, month.cogs_cents / 100, round(month.tax_cents) / 100, charges]


_STAMPS = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _save(book: Any, path: Path, day: date) -> None:
    """Save ``book`` with ``day`` as its every time stamp, so the same run gives the same bytes.

    A workbook is a zip archive: each entry carries the time it was written,
    and the document properties the time the book was made and saved.
    """
    buffer = io.BytesIO()
    book.save(buffer)
    stamp = f"{day.isoformat()}T00:00:00Z".encode()
    with (
        zipfile.ZipFile(buffer) as made,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as fixed,
    ):
        for entry in made.infolist():
            data = made.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                data = _STAMPS.sub(rb"\g<1>" + stamp + rb"\g<2>", data)
            kept = zipfile.ZipInfo(
                entry.filename, date_time=(day.year, day.month, day.day, 0, 0, 0)
            )
            kept.compress_type = zipfile.ZIP_DEFLATED
            fixed.writestr(kept, data)
