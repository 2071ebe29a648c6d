"""Writes the golden accounting_pnl export (a spreadsheet cannot be written by hand).

Run from the repository root:  .venv/bin/python tests/golden/make_xlsx.py
One workbook, one sheet per month as the accounting system exports it: a title
on row 1, the header on row 2, the month's figures on row 3. Re-running it
rewrites the same cells.
"""

from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
OUT = HERE / "landing" / "accounting_pnl" / "accounting_pnl_2025.xlsx"

# month, revenue, cogs, taxes, other_charges (expected_pnl.py works the KPIs out from these)
MONTHS = [
    ("2025-01", 1950.00, 800.00, 81.00, 400.00),
    ("2025-02", 100.00, 40.00, 5.00, 70.00),
]


def main() -> None:
    book = Workbook()
    book.remove(book.active)
    for month, *figures in MONTHS:
        sheet = book.create_sheet(month)
        sheet.append([f"Profit and loss {month}"])
        sheet.append(["month", "revenue", "cogs", "taxes", "other_charges"])
        sheet.append([month, *figures])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    book.save(OUT)


if __name__ == "__main__":
    main()
