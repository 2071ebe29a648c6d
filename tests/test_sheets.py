"""Spreadsheets (.xlsx, .ods) as a source: typed cells, merged and empty cells, several sheets,
a header below a title, a renamed column, and bad cells quarantined by sheet and row.

The workbooks are written in each test with openpyxl and odfpy (dev dependencies)
and ingested through ``Project.ingest``, the same batch path as every file format.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from conftest import assert_counts, ingest_one, land, rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import weir
from weir.ingest.sheets import column_letter

PNL = """\
name: pnl
description: The accounting system's monthly export, one sheet per month.
owner: finance
format: {format}
location: landing/pnl/*.{format}
key: [month, line]
sheet: {{sheets: {sheets}, header_row: 2}}
columns:
  - {{name: month, type: string, nullable: false}}
  - {{name: line, type: string, nullable: false}}
  - {{name: amount, type: float}}
  - {{name: booked, type: date}}
  - {{name: posted_at, type: epoch}}
"""

HEADER = ["month", "line", "amount", "booked", "posted_at"]
# 2024-01-31 12:00 UTC: 2024-01-01 is 1704067200, plus 30 days (2592000 s) and 12 h (43200 s)
NOON_JAN_31 = 1706702400


def add_source(root: Path, fmt: str, sheets: str = "all") -> None:
    (root / "sources" / "pnl.yml").write_text(PNL.format(format=fmt, sheets=sheets))


def january(book: openpyxl.Workbook) -> None:
    sheet = book.active
    assert sheet is not None
    sheet.title = "Jan"
    sheet.append(["Profit and loss, January"])  # a title above the header
    sheet.append(HEADER)
    noon = dt.datetime(2024, 1, 31, 12, 0)
    sheet.append(["2024-01", "revenue", 1000, dt.date(2024, 1, 31), noon])
    sheet.append([None, "cogs", 400.5, dt.date(2024, 1, 31), noon])
    sheet.append([None, "taxes", "abc", dt.date(2024, 1, 31), noon])  # text in a number cell
    sheet.append([])  # an empty row is no record
    sheet.append(["2024-01", "other", None, 45000, None])  # a number in a date cell
    sheet.merge_cells("A3:A5")  # the month written once beside its rows


def test_xlsx_typed_merged_empty_cells_and_a_renamed_column(project_root: Path) -> None:
    add_source(project_root, "xlsx")
    book = openpyxl.Workbook()
    january(book)
    feb = book.create_sheet("Feb")
    feb.append(["Profit and loss, February"])
    feb.append(["month", "line", "amnt", "booked", "posted_at"])  # amount renamed
    feb.append(["2024-02", "revenue", 900, dt.date(2024, 2, 29), None])
    feb.append(["2024-02", "cogs", 300, dt.date(2024, 2, 29), None])
    path = project_root / "landing" / "pnl" / "pnl_2024.xlsx"
    path.parent.mkdir(parents=True)
    book.save(path)

    with weir.Project(project_root) as project:
        result = ingest_one(project, "pnl")
        # Jan: 4 records (the empty row is none), 2 good; Feb: 2, both held for the renamed column
        assert_counts(result, received=6, accepted=2, quarantined=4, duplicates=0)
        assert rows(
            project,
            "SELECT month, line, amount, booked, epoch(posted_at)::BIGINT AS posted, _source_file "
            "FROM staging.pnl ORDER BY line DESC",
        ) == [
            {
                "month": "2024-01",
                "line": "revenue",
                "amount": 1000.0,
                "booked": dt.date(2024, 1, 31),
                "posted": NOON_JAN_31,
                "_source_file": "landing/pnl/pnl_2024.xlsx#Jan",
            },
            {
                "month": "2024-01",  # filled from the merged cell above
                "line": "cogs",
                "amount": 400.5,
                "booked": dt.date(2024, 1, 31),
                "posted": NOON_JAN_31,
                "_source_file": "landing/pnl/pnl_2024.xlsx#Jan",
            },
        ]
        held = rows(
            project,
            "SELECT _source_file, _offset, month, _reasons FROM quarantine.pnl "
            "ORDER BY _source_file, _offset",
        )
        # the ledger's counts match raw, staging and quarantine
        assert {c.state for c in project.sources.reconcile(["pnl"])} == {"ok"}
        [entry] = project.sources.ingestor.ledger.known_files("pnl").values()
        assert len(entry) == 1
    renamed = (
        "file header does not match the contract: unknown column 'amnt' in cell C2 "
        "(renamed from 'amount'?), missing column 'amount'; fix the export, or the contract "
        "and then `weir quarantine replay`"
    )
    assert held == [
        {"_source_file": "landing/pnl/pnl_2024.xlsx#Feb", "_offset": 3, "month": "2024-02",
         "_reasons": [renamed]},
        {"_source_file": "landing/pnl/pnl_2024.xlsx#Feb", "_offset": 4, "month": "2024-02",
         "_reasons": [renamed]},
        {"_source_file": "landing/pnl/pnl_2024.xlsx#Jan", "_offset": 5, "month": "2024-01",
         "_reasons": ["amount: 'abc' is not a float"]},
        {"_source_file": "landing/pnl/pnl_2024.xlsx#Jan", "_offset": 7, "month": "2024-01",
         "_reasons": ["booked: '45000' is not a date (YYYY-MM-DD)"]},
    ]  # fmt: skip


def test_a_missing_sheet_is_one_held_record_naming_the_sheets(project_root: Path) -> None:
    add_source(project_root, "xlsx", sheets="[Mar]")
    book = openpyxl.Workbook()
    january(book)
    path = project_root / "landing" / "pnl" / "pnl_2024.xlsx"
    path.parent.mkdir(parents=True)
    book.save(path)
    land(project_root, "pnl", "broken.xlsx", b"PK\x03\x04 not really a workbook")
    with weir.Project(project_root) as project:
        result = ingest_one(project, "pnl")
        assert_counts(result, received=2, accepted=0, quarantined=2, duplicates=0)
        held = rows(project, "SELECT _source_file, _reasons FROM quarantine.pnl ORDER BY 1")
    assert held[1] == {
        "_source_file": "landing/pnl/pnl_2024.xlsx",
        "_reasons": [
            "pnl_2024.xlsx has no sheet 'Mar'; its sheets: Jan: rename the sheet in the export, "
            "or list the right ones in sheet: {sheets: [...]}"
        ],
    }
    assert held[0]["_reasons"][0].startswith("unreadable spreadsheet broken.xlsx")


def test_ods_dates_numbers_and_text(project_root: Path) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    def cell(value: object) -> TableCell:
        if value is None:
            return TableCell()
        if isinstance(value, dt.date):
            made = TableCell(valuetype="date", datevalue=value.isoformat())
        elif isinstance(value, int | float):
            made = TableCell(valuetype="float", value=value)
        else:
            made = TableCell(valuetype="string")
        made.addElement(P(text=str(value)))
        return made

    add_source(project_root, "ods", sheets="[Jan]")
    document = OpenDocumentSpreadsheet()
    table = Table(name="Jan")
    for values in (
        ["Profit and loss"],
        HEADER,
        ["2024-01", "revenue", 1000, dt.date(2024, 1, 31), dt.date(2024, 1, 31)],
        ["2024-01", "cogs", 12.25, None, None],
        ["2024-01", "fees", "n/a", None, None],
    ):
        row = TableRow()
        for value in values:
            row.addElement(cell(value))
        table.addElement(row)
    document.spreadsheet.addElement(table)
    path = project_root / "landing" / "pnl" / "pnl_2024.ods"
    path.parent.mkdir(parents=True)
    document.save(str(path))
    with weir.Project(project_root) as project:
        result = ingest_one(project, "pnl")
        assert_counts(result, received=3, accepted=2, quarantined=1, duplicates=0)
        assert rows(
            project,
            "SELECT line, amount, booked, epoch(posted_at)::BIGINT AS posted FROM staging.pnl ORDER BY 1",
        ) == [
            {"line": "cogs", "amount": 12.25, "booked": None, "posted": None},
            # 2024-01-31 00:00 UTC: 1704067200 + 30 * 86400
            {"line": "revenue", "amount": 1000.0, "booked": dt.date(2024, 1, 31), "posted": 1706659200},
        ]  # fmt: skip
        assert rows(project, "SELECT _offset, _reasons FROM quarantine.pnl") == [
            {"_offset": 5, "_reasons": ["amount: 'n/a' is not a float"]}
        ]


@pytest.mark.parametrize(
    ("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")]
)
def test_column_letters(index: int, letters: str) -> None:
    assert column_letter(index) == letters


def test_sources_test_and_discover_on_a_workbook(project_root: Path) -> None:
    from click.testing import CliRunner

    from weir.cli.main import cli

    add_source(project_root, "xlsx", sheets="[Jan]")
    book = openpyxl.Workbook()
    january(book)
    path = project_root / "landing" / "pnl" / "pnl_2024.xlsx"
    path.parent.mkdir(parents=True)
    book.save(path)
    base = ["--project", str(project_root), "sources"]
    shown = CliRunner().invoke(cli, [*base, "test", "pnl", "--limit", "3", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    posted = str(NOON_JAN_31)
    assert json.loads(shown.stdout) == [
        {"at": 3, "month": "2024-01", "line": "revenue", "amount": "1000", "booked": "2024-01-31",
         "posted_at": posted, "_reasons": []},
        {"at": 4, "month": "2024-01", "line": "cogs", "amount": "400.5", "booked": "2024-01-31",
         "posted_at": posted, "_reasons": []},
        {"at": 5, "month": "2024-01", "line": "taxes", "amount": "abc", "booked": "2024-01-31",
         "posted_at": posted, "_reasons": ["amount: 'abc' is not a float"]},
    ]  # fmt: skip
    with weir.Project(project_root) as project:
        assert project.sources.ingestor.ledger.batches("pnl") == []

    plain = openpyxl.Workbook()
    sheet = plain.active
    assert sheet is not None
    sheet.title = "Q1"
    sheet.append(["Store ID", "Opened", "Revenue", "Open Sundays", "Manager"])
    sheet.append([1, dt.date(2020, 5, 1), 1200.5, True, "Ann"])
    sheet.append([2, dt.date(2021, 3, 9), 800, False, None])
    export = project_root / "stores_export.xlsx"
    plain.save(export)
    proposed = CliRunner().invoke(cli, [*base, "discover", str(export)])
    assert proposed.exit_code == 0, proposed.output
    assert proposed.stdout == (
        "name: stores_export\n"
        "description: Records of stores_export.xlsx, proposed by weir sources discover; review it\n"
        "format: xlsx\n"
        "location: landing/stores_export/*.xlsx\n"
        "key:\n- store_id\n"
        "sheet:\n  sheets:\n  - Q1\n"
        "columns:\n"
        "  - {name: store_id, type: int, nullable: false}\n"
        "  - {name: opened, type: date, nullable: false}\n"
        "  - {name: revenue, type: float, nullable: false}\n"
        "  - {name: open_sundays, type: bool, nullable: false}\n"
        "  - {name: manager, type: string}\n"
    )
    assert not (project_root / "sources" / "stores_export.yml").exists()


CELL = st.one_of(
    st.none(),
    st.text(alphabet="abc xyz", max_size=4),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 3)),
    st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=12))
def test_every_row_with_a_value_is_one_record_in_place(
    tmp_path: Path, grid: list[list[object]]
) -> None:
    import yaml

    from weir.ingest.sheets import read_sheets
    from weir.project.config import SourceConfig

    config = yaml.safe_load(PNL.format(format="xlsx", sheets="all"))
    config["sheet"] = {"sheets": "all", "header_row": 1}
    config["columns"] = [{"name": n, "type": "string"} for n in ("a", "b", "c")]
    config["key"] = ["a"]
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["a", "b", "c"])
    for row in grid:
        sheet.append(row)
    path = tmp_path / "grid.xlsx"
    book.save(path)
    [read] = read_sheets(path, SourceConfig(**config))
    expected = [
        (n + 2, row) for n, row in enumerate(grid) if any(v is not None and v != "" for v in row)
    ]
    assert [number for number, _ in read.rows] == [number for number, _ in expected]
    for (_, values), (_, cells) in zip(read.rows, expected, strict=True):
        for value, cell in zip(values, cells, strict=True):
            if cell is None or cell == "":
                assert value is None
            elif isinstance(cell, dt.date):
                assert value == cell.isoformat()
            elif isinstance(cell, float) and not cell.is_integer():
                assert float(value or "nan") == cell
            elif isinstance(cell, int | float):
                assert value == str(int(cell))
            else:
                assert value == cell
