"""A lake on object storage against the same lake on local disk: ingest and query.

The reference retailer's POS files (``--s3-rows``, about 27 K lines a day) are
ingested once into a project whose lake is in its state folder, and once into
the same project with ``lake: s3://bucket/prefix`` on an S3-compatible server:
moto's, started on 127.0.0.1 as the tests start it (tests/s3_server.py). moto
is a Python server, far slower per request than S3 or MinIO, so the S3 figures
here are a floor for weir's own overhead, not a forecast of a real store's.

Then the same queries on both (five runs each, through ``Project.sql``, the
locked read session): a count, an aggregate per store, the top products. The
first run of a query plans the table's files; the figure is the median of the
four after it. The local run is measured twice and its second run kept: the
first pays the process's imports and first-use costs, which the S3 run would
otherwise be spared.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

from ingest_bench import _landing, _parse_size
from rich.console import Console
from rich.table import Table

import weir

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

QUERIES = {
    "count(*)": "SELECT count(*) FROM staging.pos",
    "revenue per store": "SELECT store_id, sum(revenue) FROM staging.pos GROUP BY ALL",
    "top products": (
        "SELECT product_id, sum(quantity) AS units FROM staging.pos GROUP BY ALL"
        " ORDER BY units DESC LIMIT 10"
    ),
}


def _project(work: Path, name: str, pos: Path, lake: str | None) -> Path:
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    root = weir.init_project(root)
    target = root / "landing" / "pos"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(pos.iterdir()):
        (target / path.name).symlink_to(path)
    if lake is not None:
        with (root / "weir.yml").open("a", encoding="utf-8") as config:
            config.write(f"lake: {lake}\n")
    return root


def _measure(root: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    with weir.Project(root) as project:
        started = time.perf_counter()
        [result] = project.sources.ingest(["pos"])
        figures["ingest s"] = time.perf_counter() - started
        figures["rows"] = result.counts.received
        for label, sql in QUERIES.items():
            runs = []
            for _ in range(5):
                began = time.perf_counter()
                project.sql(sql)
                runs.append(time.perf_counter() - began)
            figures[f"{label} first ms"] = runs[0] * 1000
            figures[f"{label} ms"] = statistics.median(runs[1:]) * 1000
    return figures


def run_s3_bench(work: Path, sizes: str) -> None:
    from s3_server import running_s3

    work.mkdir(parents=True, exist_ok=True)
    console = Console(width=160)
    table = Table(title="A lake on S3 (moto's server on 127.0.0.1) and on local disk, 2 cores")
    for column in ("rows", "lake", "ingest s", "rows/s", *(f"{q} ms" for q in QUERIES)):
        table.add_column(column, justify="right" if column != "lake" else "left")
    for size in sizes.split(","):
        pos, _ = _landing(work, _parse_size(size))
        _measure(_project(work, "s3-bench-local", pos, None))  # pays this process's imports
        local = _measure(_project(work, "s3-bench-local", pos, None))
        with running_s3(work / "s3-bench-server.log") as s3:
            remote = _measure(_project(work, "s3-bench-s3", pos, s3.location("bench")))
        for lake, figures in (("local disk", local), ("S3 (moto)", remote)):
            table.add_row(
                f"{int(figures['rows']):,}",
                lake,
                f"{figures['ingest s']:.2f}",
                f"{figures['rows'] / figures['ingest s']:,.0f}",
                *(
                    f"{figures[f'{q} ms']:.1f} (first {figures[f'{q} first ms']:.0f})"
                    for q in QUERIES
                ),
            )
    console.print(table)
    console.print(
        "Query ms: median of the four runs after the first; the first plans the table's files."
    )
