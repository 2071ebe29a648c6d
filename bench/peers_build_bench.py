"""The example project's own models built by weir, dbt-duckdb and SQLMesh: same data, same run.

weir ingests the reference retailer's files (``--peer-days`` days); its staging
tables are exported as Parquet and loaded into each peer's own DuckDB file as
``staging.*``, so the three tools build from the same rows. The models are
weir's example models, translated once (``example_peers``: the kinds, and where
a translation is not equivalent). Three measures, each the wall clock of a new
process (``weir``: ``Project.run(ingest=False)``, ``dbt run``, ``sqlmesh plan``
/ ``sqlmesh run``):

- full build: every model from nothing;
- one new day: the next day's files ingested by weir, the staging tables
  re-exported to the peers (not timed), then each tool's incremental run;
- no-op: the same run again with nothing new (dbt has no plan of what
  changed: ``dbt run`` rebuilds every table and re-runs the incremental
  models' last days).

After the full build and after the new day, the row count of every mart is
compared across the three tools. Target: weir's full build within 1.5x of the
faster peer, its one-new-day run and its no-op faster than both.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from example_peers import Translated, dbt_project, example_models, sqlmesh_project
from report import record
from rich.console import Console
from rich.table import Table
from toolvenv import DBT_SQLMESH, Timed, timed, tool_env, tools_venv

import weir
from weir.demo.generate import generate
from weir.lake import LakeViews
from weir.transform.kinds import OPEN_END, OPEN_START
from weir.transform.model import Model

START = date(2025, 1, 1)
DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
FULL_TARGET = 1.5
WEIR_RUN = """
import sys, weir
with weir.Project(sys.argv[1]) as project:
    _, result = project.run(ingest=False)
print(len(result.builds), sum(b.status == "built" for b in result.builds), result.ok)
if not result.ok:
    sys.exit("; ".join(f"{b.model}: {b.error}" for b in result.builds if b.status == "failed"))
"""
LOAD = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET TimeZone = 'UTC'")
con.execute("CREATE SCHEMA IF NOT EXISTS staging")
for name, path in json.loads(sys.argv[2]).items():
    con.execute(f"CREATE OR REPLACE TABLE staging.{name} AS SELECT * FROM read_parquet('{path}')")
con.close()
"""
COUNT = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps({t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in json.loads(sys.argv[2])}))
"""
STEPS = ("full build", "one new day", "no-op")


@dataclass
class Tool:
    name: str
    version: str
    commands: str
    runs: dict[str, Timed] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # step → mart → rows
    error: str | None = None


def run_peers_build_bench(work: Path, days: int) -> None:
    console = Console(width=160)
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    venv = tools_venv(work, DBT_SQLMESH, console)
    landing = _landing(work, days + 1)
    last, new_day = START + timedelta(days=days - 1), START + timedelta(days=days)
    after = new_day + timedelta(days=1)
    base = work / f"peers-build-{days}d"
    shutil.rmtree(base, ignore_errors=True)
    root = base / "weir"
    weir.init_project(root)
    _copy_days(landing, root / "landing", lambda day: day <= last)
    console.print(f"ingesting {days} days into weir and exporting its staging tables…")
    with weir.Project(root) as project:
        project.sources.ingest()
        # the example's database and REST sources are not connected here: their models wait
        waiting = {p.model for p in project.models.plan() if p.waiting}
        models = example_models(waiting)
        marts = sorted(name for name in models if name.startswith("marts."))
        staging = sorted(
            {d for m in models.values() for d in m.depends_on if d.startswith("staging.")}
        )
        exported = _export(project, staging, base / "staging")
        scd2 = _scd2_columns(project, models)
    ours = Tool(
        "weir",
        f"weir {_version('weir')}",
        "Project.run(ingest=False) in a new process (= `weir run` after ingest)",
    )
    dbt = Tool(
        "dbt-duckdb",
        venv.described(("dbt-core", "dbt-duckdb", "duckdb")),
        "dbt run (threads 1)",
    )
    sqlmesh = Tool(
        "SQLMesh",
        venv.described(("sqlmesh", "sqlglot", "duckdb")),
        f"sqlmesh plan --auto-apply --execution-time {new_day}, then sqlmesh run --end {after}",
    )
    dbt_root, sqlmesh_root = base / "dbt", base / "sqlmesh"
    translated = dbt_project(dbt_root, dbt_root / "dbt.duckdb", scd2, waiting)
    sqlmesh_project(sqlmesh_root, sqlmesh_root / "peer.duckdb", START.isoformat(), scd2, waiting)
    for tool, key in ((dbt, "dbt"), (sqlmesh, "sqlmesh")):
        tool.error = venv.errors.get(key)
    commands = {
        "dbt": {step: [venv.bin("dbt"), "run"] for step in STEPS},
        # SQLMesh's intervals follow the clock (a prod plan takes no --end): the plan's
        # clock is set to the end of the data; the runs end with the new day.
        "sqlmesh": {
            "full build": [
                venv.bin("sqlmesh"),
                "plan",
                "--auto-apply",
                "--no-prompts",
                "--execution-time",
                f"{new_day} 00:00:00",
            ],
            "one new day": [venv.bin("sqlmesh"), "run", "--end", f"{after} 00:00:00"],
            "no-op": [venv.bin("sqlmesh"), "run", "--end", f"{after} 00:00:00"],
        },
    }
    for step in STEPS:
        if step == "one new day":
            console.print(f"ingesting {new_day} into weir, exporting staging again…")
            _copy_days(landing, root / "landing", lambda day: day == new_day)
            with weir.Project(root) as project:
                project.sources.ingest()
                exported = _export(project, staging, base / "staging")
        console.print(f"{step}: weir, dbt, SQLMesh…")
        ours.runs[step] = timed([sys.executable, "-c", WEIR_RUN, str(root)], root)
        if step != "no-op":
            with weir.Project(root) as project:
                ours.counts[step] = {
                    m: int(project.sql(f"SELECT count(*) AS n FROM {m}").column("n")[0].as_py())
                    for m in marts
                }
        for tool, key, folder, database in (
            (dbt, "dbt", dbt_root, dbt_root / "dbt.duckdb"),
            (sqlmesh, "sqlmesh", sqlmesh_root, sqlmesh_root / "peer.duckdb"),
        ):
            if tool.error:
                continue
            if step != "no-op":
                loaded = timed(
                    [venv.python, "-c", LOAD, str(database), json.dumps(exported)], folder
                )
                if loaded.error:
                    tool.error = f"loading staging failed: {loaded.error}"
                    continue
            tool.runs[step] = timed(commands[key][step], folder, tool_env(folder))
            if tool.runs[step].error is None and step != "no-op":
                counted = timed(
                    [venv.python, "-c", COUNT, str(database), json.dumps(marts)], folder
                )
                tool.counts[step] = json.loads(counted.output) if counted.error is None else {}
    _print(console, [ours, dbt, sqlmesh], marts, translated, days)


def _landing(work: Path, days: int) -> Path:
    """The reference retailer from START for ``days`` days (its own folder: other benches end elsewhere)."""
    folder = work / f"landing-from-{START}-{days}d"
    if not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder, days=days, scale=1.0, seed=11, start=START)
    return folder


def _copy_days(landing: Path, target: Path, keep: Callable[[date], bool]) -> None:
    for path in landing.rglob("*"):
        match = DAY_IN_NAME.search(path.name)
        if path.is_file() and match and keep(date.fromisoformat(match.group(1))):
            copy = target / path.relative_to(landing)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)


def _export(project: weir.Project, tables: list[str], folder: Path) -> dict[str, str]:
    """Each staging table as one Parquet file; name → path."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    con = project.engine.writer()
    try:
        LakeViews(project.lake).show(con, tables)
        paths = {}
        for table in tables:
            name = table.split(".", 1)[1]
            path = folder / f"{name}.parquet"
            con.execute(f"COPY (SELECT * FROM {table}) TO '{path}' (FORMAT parquet)")
            paths[name] = str(path)
    finally:
        con.close()
    return paths


def _scd2_columns(project: weir.Project, models: dict[str, Model]) -> dict[str, list[str]]:
    """The columns of each scd2 model's SELECT, which weir's versioning SQL needs."""
    con = project.engine.writer()
    try:
        LakeViews(project.lake).show(
            con, [f"{layer}.{name}" for layer, name in project.lake.tables()]
        )
        params = {"start": OPEN_START, "end": OPEN_END}
        return {
            name: [
                c
                for c, _ in con.columns(
                    m.sql, {k: v for k, v in params.items() if f"${k}" in m.sql}
                )
            ]
            for name, m in models.items()
            if m.kind == "scd2"
        }
    finally:
        con.close()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _print(
    console: Console, tools: list[Tool], marts: list[str], translated: list[Translated], days: int
) -> None:
    ours = tools[0]
    table = Table(
        title=f"The example project's {len(translated)} models on {days} days (+1): weir vs dbt-duckdb and SQLMesh, "
        "each run a new process, one thread"
    )
    for column in (
        "tool",
        *(f"{s} s" for s in STEPS),
        *(f"{s} ÷ weir" for s in STEPS),
        "marts agree",
        "target",
    ):
        table.add_column(column, justify="left" if column == "tool" else "right")
    seconds = {
        t.name: {s: (t.runs[s].seconds if s in t.runs else None) for s in STEPS} for t in tools
    }
    peers_ok = [t for t in tools[1:] if not t.error]
    verdicts = []
    for tool in tools:
        cells = [_cell(tool.runs.get(s)) for s in STEPS]
        ratios = []
        for step in STEPS:
            mine, theirs = seconds[ours.name][step], seconds[tool.name][step]
            ratios.append(f"{theirs / mine:.2f}x" if tool is not ours and mine and theirs else "")
        agree = _agreement(ours, tool, marts) if tool is not ours else ""
        table.add_row(tool.name, *cells, *ratios, agree, "")
    full = seconds[ours.name]["full build"]
    peer_full = [seconds[t.name]["full build"] for t in peers_ok if seconds[t.name]["full build"]]
    if full and peer_full:
        ok = full <= FULL_TARGET * min(peer_full)
        record(
            "the example's models, full build, vs dbt-duckdb and SQLMesh",
            f"{full:.1f} s",
            f"the faster peer: {min(peer_full):.1f} s",
            f"{full / min(peer_full):.2f}x",
            f"<= {FULL_TARGET}x",
            ok,
        )
        verdicts.append(
            f"full build within {FULL_TARGET}x of the faster peer: {'met' if ok else 'missed'}"
        )
    for step in ("one new day", "no-op"):
        mine = seconds[ours.name][step]
        theirs = [seconds[t.name][step] for t in peers_ok if seconds[t.name][step]]
        if mine and theirs:
            record(
                f"the example's models, {step}, vs dbt-duckdb and SQLMesh",
                f"{mine:.1f} s",
                f"the faster peer: {min(theirs):.1f} s",
                f"{mine / min(theirs):.2f}x",
                "faster than both",
                mine < min(theirs),
            )
            verdicts.append(f"{step} faster than both: {'met' if mine < min(theirs) else 'missed'}")
    console.print(table)
    console.print("targets: " + "; ".join(verdicts or ["not measured"]), markup=False)
    console.print(
        "no-op: weir plans from the snapshots its last run read and builds nothing; SQLMesh "
        "finds no missing interval; dbt has no plan of what changed, so `dbt run` rebuilds "
        "every table model and re-runs the incremental models' last days.",
        markup=False,
    )
    for tool in tools:
        console.print(f"{tool.name}: {tool.version}; {tool.commands}", markup=False)
        if tool.error:
            console.print(f"  not measured: {tool.error}", markup=False)
        for step, run in tool.runs.items():
            if run.error:
                console.print(f"  {step} failed: {run.error}", markup=False)
    kinds = Table(title="How each weir model kind was translated")
    for column in ("weir kind", "models", "dbt", "SQLMesh", "equivalent"):
        kinds.add_column(column)
    groups: dict[tuple[str, str, str, bool], int] = {}
    for t in translated:
        key = (t.kind, t.dbt, t.sqlmesh, t.equivalent)
        groups[key] = groups.get(key, 0) + 1
    for (kind, dbt, sqlmesh, equivalent), count in groups.items():
        kinds.add_row(
            kind,
            str(count),
            dbt,
            sqlmesh,
            "yes" if equivalent else "no: weir's versioning SQL as a full rebuild (see below)",
        )
    console.print(kinds)
    console.print(
        "scd2: a dbt snapshot and SQLMesh's SCD_TYPE_2 version an entity by the time of each "
        "run and take one row per key per run; they cannot rebuild the history of a backlog of "
        "daily extracts, which weir's scd2 does from each extract's date. The peers build weir's "
        "own versioning SQL as a table instead, so every fact joins the same versions. weir's "
        "builds also run the models' audits (write-audit-publish); the peers run none.",
        markup=False,
    )


def _agreement(ours: Tool, tool: Tool, marts: list[str]) -> str:
    if not tool.counts:
        return "—"
    differ = [
        f"{m} ({step}: {tool.counts[step].get(m)} vs {ours.counts[step].get(m)})"
        for step in tool.counts
        for m in marts
        if tool.counts[step].get(m) != ours.counts.get(step, {}).get(m)
    ]
    checked = len(tool.counts) * len(marts)
    return f"{checked - len(differ)}/{checked}" + (
        "" if not differ else " ✗ " + ", ".join(differ[:3])
    )


def _cell(run: Timed | None) -> str:
    return "—" if run is None else run.shown()
