"""Commands at a terminal: how long a person waits for ``weir …`` on the 30-day demo.

Each command runs as a person runs it (a new process, the installed ``weir``
script), several times; the table shows the median and the slowest run,
beside the floor: a Python process that only imports weir's CLI. Target:
every command well under a second.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from demo_project import built_project
from rich.console import Console
from rich.table import Table

WEIR = str(Path(sys.executable).with_name("weir"))

COMMANDS: list[tuple[str, list[str]]] = [
    ("sql, one table", ["sql", "SELECT count(*) FROM staging.pos"]),
    ("sql --as, refused", ["sql", "--as", "mia", "CREATE TABLE x AS SELECT 1"]),
    ("sql --as, a mart", ["sql", "--as", "sam", "SELECT count(*) FROM marts.sales_daily"]),
    ("kpi", ["kpi", "net_sales", "--grain", "month"]),
    ("lineage", ["lineage", "marts.sales_daily"]),
    ("status", ["status"]),
    ("plan", ["plan"]),
]


def _project(work: Path, days: int, console: Console) -> Path:
    return built_project(work / f"cli-project-{days}d", days, 17, console)


def _timed(argv: list[str], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        seconds.append((time.perf_counter() - started) * 1000)
    return seconds


def run_cli_bench(work: Path, days: int = 30, repeat: int = 5) -> None:
    console = Console(width=150)
    work.mkdir(parents=True, exist_ok=True)
    root = _project(work, days, console)
    floor = _timed([sys.executable, "-c", "import weir.cli.main"], repeat)
    table = Table(title=f"weir at a terminal: {days}-day demo, {repeat} runs each, ms")
    for column in ("command", "median", "slowest", "floor (import)", "weir - floor"):
        table.add_column(column, justify="left" if column == "command" else "right")
    base = statistics.median(floor)
    table.add_row("(python -c 'import weir.cli.main')", f"{base:.0f}", f"{max(floor):.0f}", "", "")
    for label, args in COMMANDS:
        samples = _timed([WEIR, "--project", str(root), *args], repeat)
        median = statistics.median(samples)
        table.add_row(
            f"weir {label}",
            f"{median:.0f}",
            f"{max(samples):.0f}",
            f"{base:.0f}",
            f"{median - base:+.0f}",
        )
    console.print(table)
    console.print("target: every command well under 1,000 ms")
