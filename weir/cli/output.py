"""Printing data in the format the user asked for: a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

OutputFormat = Literal["table", "json", "csv"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)

# Piped output (a log, CI, `make demo`) is not squeezed to 80 columns.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
console = Console(width=_WIDTH)
errors = Console(
    stderr=True, width=None if sys.stderr.isatty() else int(os.environ.get("COLUMNS", "160"))
)


def emit(
    rows: pa.Table | Sequence[dict[str, Any]], fmt: OutputFormat, title: str | None = None
) -> None:
    # an Arrow table only if pyarrow is loaded: printing a plan or a list does not load it
    arrow = sys.modules.get("pyarrow")
    if arrow is not None and isinstance(rows, arrow.Table):
        records, columns = rows.to_pylist(), list(rows.column_names)
    else:
        records = list(rows)
        columns = list(records[0]) if records else []
    if fmt == "json":
        sys.stdout.write(json.dumps(records, default=_plain, indent=2) + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _cell(v) for k, v in record.items()})
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(title=title, show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for record in records:
            table.add_row(*(_cell(record.get(c)) for c in columns))
        console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
