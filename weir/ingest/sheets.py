"""Spreadsheets (.xlsx, .xls, .ods) as rows of text, read with calamine.

A workbook's chosen sheets (``sheet:`` in the source: named ones, all, or the
first) each give their header row and the rows below it. Cells are typed in
the file; each becomes the text the contract casts, by the column's declared
type: a date or time cell is ``YYYY-MM-DD`` for a date column and epoch
seconds (UTC) for an epoch column; a whole number stored as a float (as every
number is in a spreadsheet) is written without ``.0``; an empty cell is null.
A merged cell's value fills every cell of its range, so a month written once
beside its rows belongs to each of them. A row whose cells are all empty is no
record.

A record's place is its sheet and row: ``_source_file`` is
``<file>#<sheet>`` and ``_offset`` the row number the spreadsheet shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.errors import WeirError
from weir.project.config import SourceConfig

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Sheet:
    """One sheet's header (with each name's cell) and its records (row number, values)."""

    name: str
    header: list[str]
    cells: list[str]  # where each header name stands, e.g. C1
    rows: list[tuple[int, tuple[str | None, ...]]]


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_sheets(path: Path, source: SourceConfig) -> Iterator[Sheet]:
    """The sheets ``source`` reads from ``path``; a WeirError if the file or a sheet is not there."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own kinds for every broken file
        raise WeirError(
            f"unreadable spreadsheet {path.name}: {exc}", "re-export the file as .xlsx or .ods"
        ) from None
    try:
        wanted = source.sheet.sheets
        names = list(book.sheet_names)
        if wanted is None:
            chosen = names[:1]
        elif wanted == "all":
            chosen = names
        else:
            missing = [name for name in wanted if name not in names]
            if missing:
                raise WeirError(
                    f"{path.name} has no sheet {', '.join(repr(m) for m in missing)}; "
                    f"its sheets: {', '.join(names)}",
                    "rename the sheet in the export, or list the right ones in sheet: {sheets: [...]}",
                )
            chosen = list(wanted)
        types = {c.name: c.type for c in source.columns}
        for name in chosen:
            yield _sheet(book.get_sheet_by_name(name), name, source.sheet.header_row, types)
    finally:
        book.close()


def _sheet(sheet: Any, name: str, header_row: int, types: Mapping[str, str]) -> Sheet:
    grid: list[list[Any]] = [list(row) for row in sheet.to_python(skip_empty_area=False)]
    for (top, left), (bottom, right) in sheet.merged_cell_ranges or []:
        if top >= len(grid) or left >= len(grid[top]):
            continue
        value = grid[top][left]
        for r in range(top, min(bottom, len(grid) - 1) + 1):
            for c in range(left, min(right, len(grid[r]) - 1) + 1):
                grid[r][c] = value
    if len(grid) < header_row:
        return Sheet(name, [], [], [])
    heads = [_plain(v) for v in grid[header_row - 1]]
    used = [
        i
        for i, head in enumerate(heads)
        if head or any(i < len(row) and _plain(row[i]) for row in grid[header_row:])
    ]
    header = [heads[i] for i in used]
    cells = [f"{column_letter(i)}{header_row}" for i in used]
    # column by column: each column's type is looked up once
    body = grid[header_row:]
    converted = [
        [_text(row[i], kind) if i < len(row) else None for row in body]
        for i, kind in zip(used, (types.get(h, "string") for h in header), strict=True)
    ]
    rows = (
        [
            (number, values)
            for number, values in zip(
                range(header_row + 1, header_row + 1 + len(body)),
                zip(*converted, strict=True),
                strict=True,
            )
            if any(v is not None for v in values)
        ]
        if converted
        else []
    )
    return Sheet(name, header, cells, rows)


def _plain(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _text(value: Any, kind: str) -> str | None:
    """A typed cell as the text the contract casts for a column of type ``kind``."""
    kind_of = type(value)
    if kind_of is str:  # the common cases first: text, then numbers
        return value or None  # type: ignore[no-any-return]
    if kind_of is float:
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if kind == "epoch":
            return _seconds(value)
        if kind == "date" and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        if kind == "epoch":
            return _seconds(dt.datetime.combine(value, dt.time(0)))
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _number(value.total_seconds())
    return str(value)


def _seconds(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return _number((aware - EPOCH).total_seconds())


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
