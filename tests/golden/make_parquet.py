"""Writes the golden customer_demographics extract (Parquet cannot be written by hand).

Run from the repository root:  .venv/bin/python tests/golden/make_parquet.py
The output is deterministic; re-running it rewrites the same rows.
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
OUT = HERE / "landing" / "customer_demographics" / "customer_demographics_2025-01-06.parquet"

# customer_id, age, gender, marital_status, parental_status -- one row per golden customer (1-8).
ROWS = [
    (1, 34, "female", "married", "parent"),
    (2, 41, "male", "married", "not_parent"),
    (3, 27, "female", "single", "not_parent"),
    (4, 52, "male", "divorced", "parent"),
    (5, 23, "non-binary", "single", "not_parent"),
    (6, 38, "male", "undisclosed", "undisclosed"),
    (7, 45, "female", "widowed", "parent"),
    (8, 19, "undisclosed", "single", "undisclosed"),
]


def main() -> None:
    columns = list(zip(*ROWS, strict=True))
    table = pa.table(
        {
            "customer_id": pa.array(columns[0], pa.int64()),
            "age": pa.array(columns[1], pa.int64()),
            "gender": pa.array(columns[2], pa.string()),
            "marital_status": pa.array(columns[3], pa.string()),
            "parental_status": pa.array(columns[4], pa.string()),
        }
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, OUT, compression="snappy")
    print(f"wrote {OUT.relative_to(HERE.parent.parent)} ({table.num_rows} rows)")


if __name__ == "__main__":
    main()
