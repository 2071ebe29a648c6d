"""weir's benchmarks: each prints a table comparing weir with its floor, side by side in one run.

    make bench                   # everything
    .venv/bin/python bench/run.py --only ingest --sizes 1M

Figures depend on the machine; the targets are stated beside them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_bench import run_cli_bench
from collector_bench import run_collector_bench
from gateway_bench import run_gateway_bench
from ingest_bench import run_ingest_bench
from models500_bench import run_models500_bench
from quality_bench import run_quality_bench
from transform_bench import run_transform_bench

BENCHES = {
    "cli": lambda args: run_cli_bench(args.work, args.cli_days),
    "collector": lambda args: run_collector_bench(args.work, args.seconds, args.connections),
    "gateway": lambda args: run_gateway_bench(args.work, args.gateway_days),
    "ingest": lambda args: run_ingest_bench(args.work, args.sizes),
    "models500": lambda args: run_models500_bench(args.work, args.sizes),
    "quality": lambda args: run_quality_bench(
        args.work, args.quality_days, args.quality_scale, args.quality_landing
    ),
    "transform": lambda args: run_transform_bench(args.work, args.days),
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
        "--work",
        type=Path,
        default=Path(__file__).resolve().parent / ".work",
        help="Scratch folder (generated files are kept here between runs).",
    )
    args = parser.parse_args()
    for name in args.only or sorted(BENCHES):
        BENCHES[name](args)


if __name__ == "__main__":
    main()
