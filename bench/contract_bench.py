"""The POS contract's checks: weir's contract step against pandera and Great Expectations.

The same rows (the POS files of the ingest benchmark) and the same rules, read
from ``sources/pos.yml``: each column's type, required, minimum, maximum,
accepted values, pattern and not-in-the-future, and the record rules (written
for the peers by hand in ``RULES``). pandera and Great Expectations run in
their own venv (``toolvenv.VALIDATORS``, ``peer_scripts/validate.py``), on the
records as text in a pandas DataFrame, as weir's contract gets them as text.

weir's side is its contract step alone, in this process, through the library:
the files read by weir's reader (``load_files``, timed apart as "load"), then
``Contract(source).checked_sql`` (cast, check, every reason per record) run as
one query on weir's writer session; de-duplication, card tokenisation and the
lake writes are not in it. Each tool's "failing" is the records that break at
least one rule (lines that do not parse included), so the three can be seen
to agree. Target: weir's check at least 5x faster than each peer's.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest_bench import _landing, _parse_size
from report import record
from rich.console import Console
from rich.table import Table
from toolvenv import VALIDATORS, timed, tool_env, tools_venv

import weir
from weir.ingest.contract import FUTURE_TOLERANCE_SECONDS, Contract
from weir.ingest.readers import load_files
from weir.project import SourceConfig, load_project

HERE = Path(__file__).resolve().parent
TARGET = 5.0
# A record rule as the peers check it: (a, b) holds when a <= b or either is missing.
RULES = {"discount_within_revenue": ("discount_applied", "revenue")}
EXAMPLE = load_project(Path(weir.__file__).parent / "demo" / "example")
PEERS = {"pandera": "pandera (coerce, lazy)", "gx": "Great Expectations (COMPLETE)"}


@dataclass
class Checked:
    tool: str
    rows: int | None
    failing: int | None
    load: float | None
    check: float | None
    version: str = ""
    error: str | None = None


def contract_spec(source: SourceConfig, now: float) -> dict[str, Any]:
    """The source's contract as data the peers' script turns into their own checks."""
    unknown = [rule.name for rule in source.rules if rule.name not in RULES]
    if unknown:
        raise ValueError(f"no translation of the rule(s) {unknown} for the peers: add it to RULES")
    return {
        "columns": [
            {
                "name": c.name,
                "type": "float" if c.type == "epoch" else c.type,
                "required": not c.nullable,
                "min": c.min,
                "max": c.max,
                "enum": c.enum,
                "regex": c.regex,
                "not_future_before": now + FUTURE_TOLERANCE_SECONDS if c.not_future else None,
            }
            for c in source.columns
        ],
        "rules": [
            {"name": r.name, "a": RULES[r.name][0], "b": RULES[r.name][1]} for r in source.rules
        ],
    }


def weir_contract(work: Path, pos: Path, now: float) -> Checked:
    root = work / "contract-project"
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    with weir.Project(root) as project:
        source = project.files.source("pos")
        con = project.engine.writer()
        try:
            started = time.perf_counter()
            table = load_files(con, source, sorted(pos.glob("*.csv")))
            loaded = time.perf_counter()
            relation = f"(SELECT *, rowid AS _seq FROM {table})"
            con.execute(
                f"CREATE TEMP TABLE checked AS {Contract(source).checked_sql(relation, now)}"
            )
            checked = time.perf_counter()
            rows, failing = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE len(_reasons) > 0) FROM checked"
            ).fetchall()[0]
        finally:
            con.close()
    shutil.rmtree(root, ignore_errors=True)
    return Checked("weir contract step", rows, failing, loaded - started, checked - loaded)


def peer(work: Path, python: str, tool: str, pos: Path, spec: Path) -> Checked:
    run = timed(
        [python, str(HERE / "peer_scripts" / "validate.py"), tool, str(pos), str(spec)],
        work,
        tool_env(work),
    )
    if run.error:
        return Checked(PEERS[tool], None, None, None, None, error=run.error)
    out = json.loads(run.output.strip().splitlines()[-1])
    skipped = out["lines"] - out["rows"]  # lines pandas could not read: failing too
    return Checked(
        PEERS[tool],
        out["lines"],
        out["failing"] + skipped,
        out["load_seconds"],
        out["validate_seconds"],
        out["version"],
    )


def run_contract_bench(work: Path, sizes: str) -> None:
    console = Console(width=160)
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    venv = tools_venv(work, VALIDATORS, console)
    table = Table(
        title="The POS contract's checks on the same rows: weir vs pandera and Great Expectations"
    )
    for column in (
        "rows",
        "tool",
        "load s",
        "check s",
        "rows/s (check)",
        "failing rows",
        "tool ÷ weir",
        "target",
    ):
        table.add_column(column, justify="left" if column == "tool" else "right", no_wrap=True)
    notes: list[str] = []
    for size in sizes.split(","):
        pos, _days = _landing(work, _parse_size(size))
        now = time.time()
        spec = contract_spec(EXAMPLE.source("pos"), now)
        spec_path = work / "pos-contract.json"
        spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
        console.print(f"checking {size} POS rows: weir, then pandera and Great Expectations…")
        ours = weir_contract(work, pos, now)
        results = [ours]
        for tool in PEERS:
            error = venv.errors.get("pandera" if tool == "pandera" else "great_expectations")
            results.append(
                Checked(PEERS[tool], None, None, None, None, error=error)
                if error
                else peer(work, venv.python, tool, pos, spec_path)
            )
        for result in results:
            if result.error:
                table.add_row(size, result.tool, "failed", "", "", "", "", "")
                notes.append(f"{size}, {result.tool}: {result.error}")
                continue
            assert result.check is not None and result.load is not None and result.rows
            ratio = result.check / ours.check if result is not ours and ours.check else None
            if ratio is not None:
                record(
                    f"the POS contract's checks on {result.rows:,} rows, vs {result.tool}",
                    f"{ours.check:.2f} s",
                    f"{result.tool}: {result.check:.2f} s",
                    f"weir {ratio:.1f}x faster",
                    f">= {TARGET:.0f}x faster",
                    ratio >= TARGET,
                )
            table.add_row(
                f"{result.rows:,}",
                result.tool,
                f"{result.load:.2f}",
                f"{result.check:.2f}",
                f"{result.rows / result.check:,.0f}",
                f"{result.failing:,}",
                f"{ratio:.1f}x" if ratio is not None else "",
                ("met" if ratio >= TARGET else "missed") if ratio is not None else "",
            )
            if result.failing != ours.failing:
                notes.append(
                    f"{size}, {result.tool}: {result.failing:,} failing rows, weir {ours.failing:,} "
                    f"({(result.failing or 0) - (ours.failing or 0):+,})"
                )
            if result.version:
                notes.append(f"{result.tool}: {result.version}")
    console.print(table)
    console.print(
        "load = the files into a table of text (weir: its CSV reader into DuckDB; the peers: "
        "pandas read_csv, dtype=str); check = every rule on every record, the failing records "
        "and their reasons collected (pandera: coerce + lazy validation; GE: pandas casts for "
        "the numeric checks, then the suite with result_format COMPLETE); tool ÷ weir = the "
        f"tool's check time over weir's; target: weir ≥ {TARGET:.0f}x faster."
    )
    for note in dict.fromkeys(notes):
        console.print(note, markup=False)
    if any("failing rows, weir" in note for note in notes):
        console.print(
            "Why the failing counts differ: weir quarantines every record of a file whose header "
            "does not match the contract (a renamed column), where pandas reads that column as "
            "empty and both peers pass the records; and when pandera's coercion of a column "
            "fails on some rows, it reports that column's range checks and the record rules as "
            "one schema-level failure with no rows, so records below a minimum, in the future or "
            "breaking the discount rule are not counted by it.",
            markup=False,
        )
