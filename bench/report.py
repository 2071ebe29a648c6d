"""``docs/benchmarks.md``, written from a run of ``bench/run.py``: every table it printed.

The benchmarks print with rich as they always do; while they run, what they
print is also kept (``Recorder``: a tee of ``sys.stdout``, one section per
benchmark, colours stripped) and the page is written at the end with the
machine (cores, memory, CPU model, OS), the date, the options of the run and
the versions of weir, DuckDB and every peer found in the bench's venvs.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from io import StringIO
from pathlib import Path
from typing import TextIO

from rich.table import Table
from toolvenv import DBT_SQLMESH, DLT, VALIDATORS, installed_versions

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TITLES = {
    "atrest": "Encryption at rest",
    "cli": "weir at a terminal",
    "collector": "The HTTP collector",
    "contract": "The POS contract's checks: weir, pandera, Great Expectations",
    "dlt": "Loading files: weir ingest and dlt",
    "gateway": "The SQL gateway and the API",
    "ingest": "Ingest against its floor",
    "models500": "500 chained models: weir, dbt-duckdb, SQLMesh",
    "pages": "The web app's pages",
    "peers-build": "The example project's models: weir, dbt-duckdb, SQLMesh",
    "quality": "The quality detector",
    "s3": "A lake on object storage",
    "scale": "The scale curve",
    "sealing": "Sealing personal data",
    "spark": "The example's build on Spark (local) and DuckDB",
    "transform": "The full build and one new day against their floor",
}
WHAT = {
    "atrest": "the same retailer ingested, built and queried with `encryption: {at_rest: true}` off and on, and the overhead in percent.",
    "cli": "how long a person waits for each `weir` command (a new process), beside Python importing weir's CLI.",
    "collector": "events per second through the HTTP collector, beside a trivial ASGI endpoint.",
    "contract": "the POS contract's rules (types, required, ranges, not-future, the discount rule) on the same rows: weir's contract step (in-process, through the library) against pandera and Great Expectations on a pandas DataFrame of the same text.",
    "dlt": "the POS files loaded into DuckDB by `weir ingest` and by dlt (its CSV reader, its Arrow path; schema contract `freeze`), each a new process: rows/s, rows landed, peak memory.",
    "gateway": "the SQL gateway's check-and-rewrite time and the API's overhead, beside plain DuckDB.",
    "ingest": "`weir ingest` of the POS files against a plain DuckDB copy of them to Parquet; when the target is missed, the time of each phase.",
    "models500": "500 chained SQL models: load + plan and the full build, weir against dbt-duckdb and SQLMesh.",
    "pages": "each page of the web app (every team dashboard, the control panel, its sources page, the catalog, quality, audit, the SQL console) served after its first view, and a live dashboard's look when nothing changed, against the 200 ms target.",
    "peers-build": "the example project's own models translated for dbt-duckdb and SQLMesh, built from the same staging rows: full build, one new day, no-op; the marts' row counts compared.",
    "quality": "the quality detector on a year with planted incidents: recall, precision, false flags.",
    "s3": "the POS files ingested into a lake on an S3-compatible server (moto's, on 127.0.0.1: a Python server, so a floor for weir's own overhead, not a forecast of a real store's) and on local disk, and the same queries on both.",
    "sealing": "the CRM's customers ingested and queried with `privacy: {encrypt_pii: true}` off and on: one AES-GCM per personal field and one key per customer.",
    "scale": "the POS files ingested, then the full build over every source, at growing sizes, beside their floors, with weir's peak memory while it ingests and builds; the chart below.",
    "spark": "the example project's full build on Spark in local mode against DuckDB from the same lake: Spark's start, its cost per statement, per model.",
    "transform": "the example project's full build against the same SQL on plain DuckDB, and one new day against the full build.",
}


@dataclass(frozen=True)
class Target:
    """One of weir's speed targets as a benchmark measured it: weir beside its reference."""

    measure: str
    weir: str
    reference: str  # what weir is compared with, and its figure
    ratio: str
    goal: str
    met: bool


TARGETS: list[Target] = []


def record(measure: str, weir: str, reference: str, ratio: str, goal: str, met: bool) -> None:
    """Record a target's verdict for the summary ``bench/run.py`` prints (and writes) at the end."""
    TARGETS.append(Target(measure, weir, reference, ratio, goal, met))


def targets_table() -> Table:
    table = Table(title="weir's speed targets in this run: weir beside its floor or peer")
    for column in ("measure", "weir", "reference", "ratio", "target", "met?"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for row in TARGETS:
        table.add_row(
            row.measure,
            row.weir,
            row.reference,
            row.ratio,
            row.goal,
            "met" if row.met else "missed",
        )
    return table


class _Tee:
    """``sys.stdout`` that also writes into the current section."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.section: StringIO | None = None

    def write(self, text: str) -> int:
        if self.section is not None:
            self.section.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()

    def fileno(self) -> int:
        return self.out.fileno()

    @property
    def encoding(self) -> str:
        return self.out.encoding


class Recorder:
    """What each benchmark printed, in the order they ran."""

    def __init__(self) -> None:
        self.sections: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        tee = _Tee(sys.stdout)
        tee.section = StringIO()
        sys.stdout = tee  # type: ignore[assignment]
        try:
            yield
        except Exception as exc:  # one benchmark failing must not lose the others' figures
            self.failed[name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            print(f"{name} failed: {self.failed[name]}", file=tee.out)
        finally:
            sys.stdout = tee.out
            self.sections[name] = ANSI.sub("", tee.section.getvalue())


def machine() -> dict[str, str]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else platform.processor() or model
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.M)
        memory = f"{int(found.group(1)) / 2**20:.1f} GiB" if found else memory
    release = Path("/etc/os-release")
    system = platform.platform()
    if release.exists():
        found = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', release.read_text(), re.M)
        system = f"{found.group(1)} ({platform.system()} {platform.release()})" if found else system
    return {
        "cores": str(os.cpu_count()),
        "memory": memory,
        "CPU": model,
        "OS": system,
        "Python": platform.python_version(),
    }


def versions(work: Path) -> dict[str, str]:
    """weir's own and every peer's version, as installed where each runs."""
    found: dict[str, str] = {}
    for name in ("weir", "duckdb", "pyiceberg", "sqlglot", "pyarrow"):
        with suppress(PackageNotFoundError):
            found[f"{name} (weir)"] = version(name)
    for pins in (DBT_SQLMESH, DLT, VALIDATORS):
        for name, value in installed_versions(work / pins.venv, pins).items():
            found[f"{name} ({pins.venv})"] = value
    return found


def write(
    path: Path,
    recorder: Recorder,
    options: str,
    work: Path,
    chart: Path | None,
    pending: list[str] | None = None,
) -> None:
    """The page, from what ran so far (``pending``: the benchmarks the run has not reached)."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py --write-doc`): the tables below are what that run",
        "printed, weir beside its floor and its peers, with the ratio and the target (met or",
        "missed). Figures depend on the machine and on what else it was doing; each table says",
        "what it measures. Run one benchmark with `.venv/bin/python bench/run.py --only NAME`",
        "(add `--write-doc` to write this page from it). The peers (dbt-duckdb, SQLMesh, dlt, pandera,",
        "Great Expectations) and matplotlib are installed at pinned versions into their own",
        "virtual environments under `bench/.work`, never into weir's.",
        "",
        "## This run",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `bench/run.py {options}`",
    ]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    if pending:
        lines.append(f"- **not finished**: this page was written before {', '.join(pending)} ran")
    if TARGETS:
        met = sum(1 for row in TARGETS if row.met)
        lines += [
            "",
            "## The targets",
            "",
            f"{met} of {len(TARGETS)} met in this run. Each row comes from the benchmark whose"
            " section below shows it in full, and, for a target missed, where the time goes.",
            "",
            "| measure | weir | reference | ratio | target | met? |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.measure} | {r.weir} | {r.reference} | {r.ratio} | {r.goal} |"
            f" {'met' if r.met else '**missed**'} |"
            for r in TARGETS
        ]
    lines += ["", "## Versions", ""]
    lines += ["| package | version |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in versions(work).items()]
    for name, text in recorder.sections.items():
        what = WHAT.get(name, "")
        lines += ["", f"## {TITLES.get(name, name)}", "", what[:1].upper() + what[1:], ""]
        if name in recorder.failed:
            lines += [f"**Not measured**: {recorder.failed[name]}", ""]
        kept = [line.rstrip() for line in text.splitlines() if "▕" not in line]
        lines += ["```text", *kept, "```"]
        if name == "scale" and chart is not None and chart.exists():
            lines += ["", f"![The scale curve]({chart.name})"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
