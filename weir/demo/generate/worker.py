"""A second process for a large run: ``python -m weir.demo.generate.worker --group people ...``.

Arrow and numpy do most of the work in C, but not enough of it outside the
GIL for two threads to use two cores, so a large run hands one group of
sources (web traffic, CRM) to a child process. The child rebuilds the same
world from the same seed, writes its sources' files, and prints their counts
as JSON on stdout; the parent writes the manifest. A subprocess started by
module name (rather than ``multiprocessing``) never re-runs the caller's
script and never forks a process that may hold threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from weir.demo.generate.errors import GenerateError
from weir.demo.generate.manifest import SourceCounts

_PACKAGE_ROOT = Path(__file__).resolve().parents[3]


def start(
    group: str, out: Path, days: int, scale: float, seed: int, first: date, incidents: bool = True
) -> subprocess.Popen[bytes]:
    """Start the child that generates ``group``; collect it with ``finish``."""
    env = dict(os.environ)
    # The child must import this very copy of weir, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    command = [
        sys.executable,
        "-m",
        "weir.demo.generate.worker",
        "--group",
        group,
        "--out",
        str(out),
        "--days",
        str(days),
        "--scale",
        repr(scale),
        "--seed",
        str(seed),
        "--start",
        first.isoformat(),
        "--incidents" if incidents else "--no-incidents",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def finish(child: subprocess.Popen[bytes]) -> dict[str, SourceCounts]:
    """Wait for the child; its sources' counts."""
    stdout, stderr = child.communicate()
    if child.returncode != 0:
        tail = stderr.decode("utf-8", errors="replace").strip().splitlines()[-5:]
        raise GenerateError(
            "the generator's second process failed: "
            + (" | ".join(tail) or f"exit code {child.returncode}"),
            "run again; if it fails again, report the message above",
        )
    counts = json.loads(stdout.decode("utf-8"))
    return {name: SourceCounts.from_dict(c) for name, c in counts.items()}


def main(argv: Sequence[str] | None = None) -> int:
    from weir.demo.generate.build import run_group  # here: the parent imports this module too

    parser = argparse.ArgumentParser(prog="python -m weir.demo.generate.worker")
    parser.add_argument("--group", choices=("sales", "people"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--incidents", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    counts, _ = run_group(
        args.group, args.out, args.days, args.scale, args.seed, args.start, args.incidents
    )
    json.dump({name: c.to_dict() for name, c in counts.items()}, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
