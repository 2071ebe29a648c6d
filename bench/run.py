"""weir's benchmarks: each prints a table comparing weir with its floor and its peers, in one run.

    make bench                   # everything, and docs/benchmarks.md written from the run
    .venv/bin/python bench/run.py --only ingest --sizes 1M --no-write-doc
    .venv/bin/python bench/run.py --only dlt --only contract --peer-sizes 1M,10M
    .venv/bin/python bench/run.py --only scale --scale-sizes 1M,10M,60M
    .venv/bin/python bench/run.py --only pages --pages-days 90 --pages-scale 0.5
    .venv/bin/python bench/run.py --only s3 --s3-rows 250K
    )
    parser.add_argument(
    .venv/bin/python bench/run.py --only spark --spark-days 3 --spark-scale 0.02

Figures depend on the machine; the targets are stated beside them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atrest_bench import run_atrest_bench
from cli_bench import run_cli_bench
from collector_bench import run_collector_bench
from contract_bench import run_contract_bench
from dlt_bench import run_dlt_bench
from gateway_bench import run_gateway_bench
from ingest_bench import run_ingest_bench
from models500_bench import run_models500_bench
from pages_bench import run_pages_bench
from peers_build_bench import run_peers_build_bench
from quality_bench import run_quality_bench
from report import TARGETS, Recorder, targets_table, write
from rich.console import Console
from s3_bench import run_s3_bench
from scale_bench import run_scale_bench
from sealing_bench import run_sealing_bench
from spark_bench import run_spark_bench
from transform_bench import run_transform_bench

DOCS = Path(__file__).resolve().parent.parent / "docs"
BENCHES = {
    "atrest": lambda args: run_atrest_bench(args.work, args.atrest_days),
    "cli": lambda args: run_cli_bench(args.work, args.cli_days),
    "collector": lambda args: run_collector_bench(args.work, args.seconds, args.connections),
    "contract": lambda args: run_contract_bench(args.work, args.peer_sizes),
    "dlt": lambda args: run_dlt_bench(args.work, args.peer_sizes),
    "gateway": lambda args: run_gateway_bench(args.work, args.gateway_days),
    "ingest": lambda args: run_ingest_bench(args.work, args.sizes),
    "models500": lambda args: run_models500_bench(args.work, args.sizes),
    "pages": lambda args: run_pages_bench(args.work, args.pages_days, args.pages_scale),
    "peers-build": lambda args: run_peers_build_bench(args.work, args.peer_days),
    "quality": lambda args: run_quality_bench(
        args.work, args.quality_days, args.quality_scale, args.quality_landing
    ),
    "scale": lambda args: run_scale_bench(
        args.work,
        args.scale_sizes,
        args.doc.parent / "benchmarks-scale.png" if args.write_doc else None,
    ),
    "s3": lambda args: run_s3_bench(args.work, args.s3_rows),
    "transform": lambda args: run_transform_bench(args.work, args.days),
    "sealing": lambda args: run_sealing_bench(args.work, args.sealing_rows),
    "spark": lambda args: run_spark_bench(
        args.work, args.spark_days, args.spark_scale, args.spark_master
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", choices=sorted(BENCHES), action="append", help="Run only these benchmarks."
    )
    parser.add_argument(
        "--sizes", default="1M,10M", help="POS rows to ingest, comma-separated (e.g. 1M,10M)."
    )
    parser.add_argument(
        "--days", type=int, default=365, help="Days of data for the transform benchmark."
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="Seconds of load per collector run."
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="Client connections of the collector load."
    )
    parser.add_argument(
        "--atrest-days",
        type=int,
        default=14,
        help="Days of data for the encryption-at-rest benchmark.",
    )
    parser.add_argument(
        "--gateway-days", type=int, default=14, help="Days of data for the gateway benchmark."
    )
    parser.add_argument(
        "--cli-days", type=int, default=30, help="Days of data for the CLI benchmark."
    )
    parser.add_argument(
        "--quality-days", type=int, default=365, help="Days of data for the quality benchmark."
    )
    parser.add_argument(
        "--quality-scale",
        type=float,
        default=0.1,
        help="Scale of the quality benchmark's retailer (1.0: ~10 M POS lines a year).",
    )
    parser.add_argument(
        "--quality-landing",
        type=Path,
        help="Files already generated (e.g. `weir generate`) for the quality benchmark to build.",
    )
    parser.add_argument(
        "--pages-days", type=int, default=365, help="Days of data for the web pages benchmark."
    )
    parser.add_argument(
        "--pages-scale",
        type=float,
        default=1.0,
        help="Scale of the web pages benchmark's retailer (1.0: ~10 M POS lines a year).",
    )
    parser.add_argument(
        "--peer-sizes",
        default="250K",
        help="POS rows for the dlt and contract benchmarks, comma-separated (e.g. 1M,10M).",
    )
    parser.add_argument(
        "--peer-days",
        type=int,
        default=7,
        help="Days of data for the example models built by weir, dbt and SQLMesh.",
    )
    parser.add_argument(
        "--scale-sizes",
        default="1M,10M",
        help="POS rows of the scale curve, comma-separated (10M is a year at scale 1; 60M"
        " needs about 45 GB of generated files).",
    )
    parser.add_argument(
        "--sealing-rows",
        type=int,
        default=100_000,
        help="Customers ingested and queried with sealing off and on (the sealing benchmark).",
    )
    parser.add_argument(
        "--s3-rows",
        default="250K",
        help="POS rows ingested and queried on the S3 server and on local disk (comma-separated).",
    )
    parser.add_argument(
        "--spark-days", type=int, default=7, help="Days of data for the Spark benchmark."
    )
    parser.add_argument(
        "--spark-scale",
        type=float,
        default=0.05,
        help="Scale of the Spark benchmark's retailer (1.0: ~10 M POS lines a year).",
    )
    parser.add_argument(
        "--spark-master", default="local[*]", help="The Spark master the Spark benchmark uses."
    )
    parser.add_argument(
        "--write-doc",
        action=argparse.BooleanOptionalAction,
        help="Write every table of the run, the machine and the versions to --doc "
        "(default: on when every benchmark runs, off with --only).",
    )
    parser.add_argument(
        "--doc", type=Path, default=DOCS / "benchmarks.md", help="The page --write-doc writes."
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(__file__).resolve().parent / ".work",
        help="Scratch folder (generated files are kept here between runs).",
    )
    args = parser.parse_args()
    # the example's alert rules fire while the benchmarks build it: their log lines are not figures
    logging.getLogger("weir.alerts").setLevel(logging.ERROR)
    if args.write_doc is None:
        args.write_doc = not args.only
    recorder = Recorder()
    chart = args.doc.parent / "benchmarks-scale.png"
    names = args.only or sorted(BENCHES)
    for index, name in enumerate(names):
        with recorder.section(name):
            BENCHES[name](args)
        if args.write_doc:  # after each benchmark: a run stopped midway keeps what it measured
            write(args.doc, recorder, " ".join(sys.argv[1:]), args.work, chart, names[index + 1 :])
    if TARGETS:
        Console(width=160).print(targets_table())
    if args.write_doc:
        print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
