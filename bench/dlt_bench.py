"""Loading the POS files into DuckDB: weir ingest against dlt, same files, each a new process.

dlt (installed into its own venv, ``toolvenv.DLT``) loads the files three ways
(see ``peer_scripts/dlt_load.py``): its CSV reader with the schema contract
``freeze`` (columns and types declared), the same with ``data_type:
discard_row`` (what lets a load of dirty files finish: records dlt cannot type
are dropped), and its Arrow path (``pyarrow.csv`` tables into a resource,
every column text, ``freeze``). weir ingests the same files as one batch:
contract, quarantine, de-duplication, raw + quarantine + staging committed to
Iceberg. Printed: wall clock, rows/s, rows landed, peak resident memory of the
process, and weir's rate over each dlt path's. Target: weir's rows/s at least
dlt's fastest path that finishes.

dlt's CSV reader normalises row by row in Python, and its process grew to
5.7 GiB for 300 K rows here (2:17 min): it runs only up to ``CSV_READER_MAX_ROWS``
(above that it is noted as not run, not timed), so a large size cannot
exhaust the machine's memory.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ingest_bench import _landing, _parse_size
from ingest_phases import IngestRun, from_json
from report import record
from rich.console import Console
from rich.table import Table
from toolvenv import DLT, Timed, timed, tool_env, tools_venv

HERE = Path(__file__).resolve().parent
CSV_READER_MAX_ROWS = 400_000
PATHS = {
    "csv-freeze": "dlt CSV reader, contract freeze",
    "csv-discard": "dlt CSV reader, data_type discard_row",
    "arrow-text": "dlt Arrow (pyarrow.csv, text), freeze",
}


@dataclass
class Load:
    label: str
    run: Timed | None
    rows: int | None = None
    note: str = ""


def gib(size: int | None) -> str:
    return "—" if size is None else f"{size / 2**30:.2f} GiB"


def weir_ingest(work: Path, pos: Path) -> IngestRun | str:
    """``weir ingest`` of ``pos`` in a new process (see ``ingest_phases``), or its error."""
    done = timed(
        [sys.executable, str(HERE / "ingest_phases.py"), str(work / "dlt-weir-project"), str(pos)],
        work,
    )
    if done.error:
        return done.error
    return from_json(done.output, done.peak_rss)


def run_dlt_bench(work: Path, sizes: str) -> None:
    console = Console(width=160)
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    venv = tools_venv(work, DLT, console)
    table = Table(title="Loading POS CSV files into DuckDB: weir ingest vs dlt, each a new process")
    for column in (
        "rows in files",
        "tool",
        "s",
        "rows/s",
        "rows landed",
        "peak RSS",
        "weir ÷ tool",
        "target",
    ):
        table.add_column(
            column, justify="left" if column == "tool" else "right", no_wrap=column != "tool"
        )
    notes: list[str] = []
    for size in sizes.split(","):
        rows = _parse_size(size)
        console.print(f"preparing {size} POS rows…")
        pos, _days = _landing(work, rows)
        ours = weir_ingest(work, pos)
        if isinstance(ours, str):
            table.add_row(size, "weir ingest", "failed", "", "", "", "", ours)
            continue
        loads = [
            _dlt(work, venv.python, venv.errors.get("dlt"), mode, pos, ours.received)
            for mode in PATHS
        ]
        finished = [load for load in loads if load.run is not None and load.run.seconds]
        best = (
            max((f.rows or 0) / (f.run.seconds or 1) for f in finished if f.run)
            if finished
            else None
        )
        met = best is not None and ours.rate >= best
        if best is not None:
            record(
                f"loading {ours.received:,} POS rows, vs dlt's fastest path",
                f"{ours.rate:,.0f} rows/s",
                f"dlt: {best:,.0f} rows/s",
                f"{ours.rate / best:.2f}x dlt's rate",
                "as fast as dlt, or faster",
                met,
            )
        table.add_row(
            f"{ours.received:,}",
            "weir ingest",
            f"{ours.seconds:.2f}",
            f"{ours.rate:,.0f}",
            f"{ours.accepted:,} (+{ours.quarantined:,} held)",
            gib(ours.peak_rss),
            "",
            ("met" if met else "missed") if best is not None else "not measured",
        )
        for load in loads:
            if load.run is None or load.run.seconds is None:
                shown = "failed" if load.run else "not run"
                table.add_row(
                    "",
                    load.label,
                    shown,
                    "",
                    "",
                    gib(load.run.peak_rss if load.run else None),
                    "",
                    "",
                )
                notes.append(f"{size}, {load.label}: {shown}: {load.note}")
                continue
            rate = (load.rows or 0) / load.run.seconds
            table.add_row(
                "",
                load.label,
                f"{load.run.seconds:.2f}",
                f"{rate:,.0f}",
                f"{load.rows:,}",
                gib(load.run.peak_rss),
                f"{ours.rate / rate:.2f}x" if rate else "—",
                "",
            )
            if load.note:
                notes.append(f"{size}, {load.label}: {load.note}")
        if not met:
            notes.append(f"{size}: weir's time by phase: {ours.where_the_time_goes()}")
    console.print(table)
    console.print(
        "weir ingest: contract, quarantine (held), de-duplication, raw + quarantine + staging "
        "committed to Iceberg; rows landed = staged. "
        "rows/s = rows in the files ÷ wall clock of the whole process (imports included); "
        "weir ÷ tool = weir's rows/s over the tool's. dlt lands typed rows only, with no "
        "record of what it dropped; weir keeps every record (raw), quarantines the broken "
        f"ones with their reasons and de-duplicates. dlt: {venv.described(DLT.shown) or 'not installed'}."
    )
    for note in notes:
        console.print(note, markup=False)


def _dlt(work: Path, python: str, error: str | None, mode: str, pos: Path, received: int) -> Load:
    label = PATHS[mode]
    if error:
        return Load(label, None, note=error)
    if mode.startswith("csv") and received > CSV_READER_MAX_ROWS:
        return Load(
            label,
            None,
            note=f"not run above {CSV_READER_MAX_ROWS:,} rows (row-by-row Python, ~19 GiB per M rows)",
        )
    folder = work / "dlt" / mode
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = timed(
        [
            python,
            str(HERE / "peer_scripts" / "dlt_load.py"),
            mode,
            str(pos),
            str(folder / "pos.duckdb"),
            str(folder / "pipelines"),
        ],
        folder,
        tool_env(folder),
    )
    shutil.rmtree(folder, ignore_errors=True)
    if run.error:
        return Load(label, run, note=run.error)
    landed = json.loads(run.output.strip().splitlines()[-1])["rows"]
    lost = received - landed
    return Load(
        label, run, landed, f"{lost:,} records not landed and not recorded anywhere" if lost else ""
    )
