"""Load POS CSV files into DuckDB with dlt (run by the dlt venv's python, not weir's).

    python dlt_load.py MODE FOLDER DATABASE PIPELINES_DIR

Modes (every one declares the POS columns up front, as weir's contract does):

csv-freeze:   dlt's filesystem source and its CSV reader (``read_csv``: pandas, in
              chunks), the columns typed, the schema contract ``freeze`` on columns
              and data types: a value of another type fails the load.
csv-discard:  the same, with ``data_type: discard_row``: a record with a value of
              another type is dropped (and so lost: dlt has no quarantine).
arrow-text:   each file read by ``pyarrow.csv`` into an Arrow table and yielded by a
              dlt resource, every column declared as text (Arrow's typed reader
              fails a whole file on one value that does not convert), the contract
              ``freeze``.

Prints one JSON object: the rows in the destination table, the files and dlt's version.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

# The POS contract's columns (weir/demo/example/sources/pos.yml) as dlt types. Epochs
# stay numbers: dlt has no epoch type, and a cast would be a transformation of its own.
COLUMNS: dict[str, str] = {
    "transaction_id": "text",
    "store_id": "bigint",
    "product_id": "bigint",
    "quantity": "bigint",
    "revenue": "double",
    "discount_applied": "double",
    "timestamp": "double",
    "customer_id": "bigint",
    "card_number": "text",
}
MODES = ("csv-freeze", "csv-discard", "arrow-text")


def hints(typed: bool) -> dict[str, Any]:
    # Every column nullable: a `nullable: false` hint fails the whole load at the first
    # missing value (dlt has no quarantine), and the generator's files hold such records.
    return {
        name: {"data_type": kind if typed else "text", "nullable": True}
        for name, kind in COLUMNS.items()
    }


def contract(data_type: str) -> dict[str, str]:
    # The table itself is new on a first load; its columns and their types are held.
    return {"tables": "evolve", "columns": "freeze", "data_type": data_type}


def arrow_resource(files: list[Path]) -> Any:
    # A line with too many or too few fields is skipped (and so lost), as pandas' reader
    # is told to do too. Every file gets exactly the declared columns (one whose header
    # renamed a column gets nulls there), so all files' tables share one schema.
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(COLUMNS, pa.string()),
        include_columns=list(COLUMNS),
        include_missing_columns=True,
    )
    parse = pacsv.ParseOptions(invalid_row_handler=lambda row: "skip")

    @dlt.resource(
        name="pos",
        columns=hints(typed=False),
        schema_contract=contract("freeze"),
        write_disposition="append",
    )
    def pos() -> Iterator[pa.Table]:
        for path in files:
            yield pacsv.read_csv(path, parse_options=parse, convert_options=convert)

    return pos()


def csv_resource(folder: Path, data_type: str) -> Any:
    from dlt.sources.filesystem import filesystem, read_csv

    files = filesystem(bucket_url=folder.resolve().as_uri(), file_glob="*.csv")
    reader = files | read_csv(dtype=str, on_bad_lines="skip")
    return reader.with_name("pos").apply_hints(
        columns=hints(typed=True), schema_contract=contract(data_type)
    )


def main() -> None:
    mode, folder, database, pipelines = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    if mode not in MODES:
        raise SystemExit(f"mode {mode!r}: use one of {', '.join(MODES)}")
    files = sorted(folder.glob("*.csv"))
    if mode == "arrow-text":
        resource = arrow_resource(files)
    else:
        resource = csv_resource(folder, "freeze" if mode == "csv-freeze" else "discard_row")
    pipeline = dlt.pipeline(
        pipeline_name=mode.replace("-", "_"),
        pipelines_dir=pipelines,
        destination=dlt.destinations.duckdb(database),
        dataset_name="landing",
    )
    pipeline.run(resource)
    with duckdb.connect(database, read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM landing.pos").fetchall()[0][0]
    print(json.dumps({"rows": rows, "files": len(files), "dlt": dlt.__version__}))


if __name__ == "__main__":
    main()
