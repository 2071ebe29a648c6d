"""500 chained SQL models: load + plan and full build, weir against dbt-duckdb and SQLMesh.

The same logical chain in the three tools: model 0 selects 1,000 rows from
DuckDB's ``range()``; model 1 reads model 0; every model i >= 2 reads model
i-1, left-joins model i-2, computes two columns and filters one row out.
Each tool builds every model as a table (weir: Parquet files committed to
its Iceberg lake; dbt: ``+materialized: table``; SQLMesh: ``kind FULL``) on
one thread, into its own DuckDB file or lake under ``.work/models500/``.

Every timing is the wall clock of a whole command in a new process (imports,
reading the project, connecting to the state) unless it says "in-process".
"cold" is a new project: no state, no parse cache; "warm" is the same command
again (dbt's partial parsing and SQLMesh's model cache now filled);
"no-op" is the plan after the full build, when nothing needs building.

dbt-duckdb and SQLMesh are not weir's dependencies: they are installed into
their own virtual environment ``.work/tools-venv`` (created once, kept between
runs) and run through its executables. Nothing is downloaded once it exists:
no dbt packages, anonymous usage statistics off in both tools.
Target: weir's cold load + plan at least 5x faster than both.
"""

from __future__ import annotations

import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import toolvenv
from models500_projects import (
    ROWS,
    check_sql,
    dbt_project,
    expected,
    model_name,
    sqlmesh_project,
    weir_project,
)
from report import record
from rich.console import Console
from rich.table import Table
from toolvenv import DBT_SQLMESH, Timed, tool_env, tools_venv

import weir

MODELS = 500
TARGET = 5.0
TIMEOUT = 900.0
COLD_RUNS = 3  # the cold load + plan is the median of this many runs

WEIR_PLAN = """
import sys, weir
with weir.Project(sys.argv[1]) as project:
    planned = project.models.plan()
print(len(planned), sum(p.build for p in planned))
"""
WEIR_RUN = """
import sys, weir
with weir.Project(sys.argv[1]) as project:
    _, result = project.run(ingest=False)
print(len(result.builds), sum(b.status == "built" for b in result.builds), result.ok)
"""
SQLMESH_PLAN = """
import sys
from sqlmesh import Context
context = Context(paths=[sys.argv[1]])
plan = context.plan_builder("prod").build()
print(len(context.models), len(plan.new_snapshots), len(plan.missing_intervals))
"""
DUCKDB_CHECK = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(*con.execute(sys.argv[2]).fetchall()[0])
"""


@dataclass
class Figures:
    tool: str
    version: str
    plan_command: str
    build_command: str
    measures: str
    cold: Timed | None = None
    warm: Timed | None = None
    build: Timed | None = None
    noop: Timed | None = None
    check: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# -- the three tools ---------------------------------------------------------------
Check = Callable[[Timed], Timed]


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timed:
    return toolvenv.timed(command, cwd, env, TIMEOUT)


def _cold(
    command: list[str],
    cwd: Path,
    env: dict[str, str] | None,
    reset: Callable[[], None],
    check: Check,
) -> Timed:
    """``command`` COLD_RUNS times, each after ``reset``; the median, and every run in ``runs``."""
    runs: list[Timed] = []
    for _ in range(COLD_RUNS):
        reset()
        timed = check(_run(command, cwd, env))
        if timed.error:
            return timed
        runs.append(timed)
    seconds = sorted(t.seconds or 0.0 for t in runs)
    return Timed(statistics.median(seconds), None, runs[-1].output, seconds)


def _weir(base: Path, models: int, console: Console) -> Figures:
    from importlib.metadata import version

    import duckdb
    import sqlglot

    root = base / "weir_project"
    shutil.rmtree(root, ignore_errors=True)
    weir_project(root, models)
    figures = Figures(
        "weir",
        f"weir {version('weir')} (sqlglot {sqlglot.__version__}, duckdb {duckdb.__version__})",
        "python -c 'with weir.Project(root) as p: p.models.plan()'",
        "python -c 'with weir.Project(root) as p: p.run(ingest=False)'",
        "a new Python process: import weir, open the project (SQLite catalog and metadata "
        f"database, created on the cold run), read the {models} model files, parse each with "
        "SQLGlot (YAML header, dependencies), build the DAG, read the run state and the lake "
        "tables' snapshots and decide what to build and why; cold = no .weir/ state",
    )
    plan = [sys.executable, "-c", WEIR_PLAN, str(root)]

    def planned(new: int) -> Check:
        def check(timed: Timed) -> Timed:
            if timed.error is None and timed.output.split() != [str(models), str(new)]:
                timed.error = (
                    f"planned {timed.output.strip()!r}, expected {models} models, {new} to build"
                )
            return timed

        return check

    console.print("weir: plan (cold, warm, in-process) …")
    figures.cold = _cold(
        plan, root, None, lambda: shutil.rmtree(root / ".weir", ignore_errors=True), planned(models)
    )
    figures.warm = planned(models)(_run(plan, root))
    started = time.perf_counter()
    with weir.Project(root) as project:
        items = project.models.plan()
    figures.notes.append(
        f"in-process (imports already loaded): Project(root) + plan() of {len(items)} models "
        f"{time.perf_counter() - started:.2f} s"
    )
    console.print("weir: full build …")
    figures.build = _run([sys.executable, "-c", WEIR_RUN, str(root)], root)
    if figures.build.error is None and figures.build.output.split() != [
        str(models),
        str(models),
        "True",
    ]:
        figures.build.error = f"run reported {figures.build.output.strip()!r}"
    figures.noop = planned(0)(_run(plan, root))
    started = time.perf_counter()
    with weir.Project(root) as project:
        items = project.models.plan()
        seconds = time.perf_counter() - started
        if figures.build.error is None:
            last = project.sql(check_sql(f"bench.{model_name(models - 1)}")).to_pylist()
            figures.check = f"{last[0]['n']} rows, sum(v)={last[0]['total']}"
    figures.notes.append(
        f"in-process no-op plan after the build ({sum(p.build for p in items)} to build): {seconds:.2f} s"
    )
    return figures


def _dbt(
    base: Path, venv: Path, versions: dict[str, str], models: int, console: Console
) -> Figures:
    root = base / "dbt_project"
    shutil.rmtree(root, ignore_errors=True)
    dbt_project(root, models)
    dbt = str(venv / "bin" / "dbt")
    env = tool_env(root)
    figures = Figures(
        "dbt-duckdb",
        f"dbt-core {versions.get('dbt-core')}, dbt-duckdb {versions.get('dbt-duckdb')} "
        f"(duckdb {versions.get('duckdb')})",
        "dbt ls --resource-type model --output name",
        "dbt run",
        "a new dbt process: read dbt_project.yml and profiles.yml, load the DuckDB adapter, "
        f"parse the {models} models (ref() extraction by dbt's static parser / Jinja), write "
        "the manifest, build the DAG and list the selected models; it does not connect to "
        "DuckDB and has no state to compare with (dbt has no 'what changed' plan without "
        "--state); cold = no target/ (full parse), warm = partial parsing from "
        "target/partial_parse.msgpack",
    )
    ls = [dbt, "ls", "--resource-type", "model", "--output", "name"]

    def listed(timed: Timed) -> Timed:
        names = [n for n in timed.output.split() if re.fullmatch(r"m\d{4}", n)]
        if timed.error is None and len(names) != models:
            timed.error = f"dbt ls listed {len(names)} models, not {models}"
        return timed

    console.print("dbt: ls (cold, warm), parse, compile …")
    figures.cold = _cold(
        ls, root, env, lambda: shutil.rmtree(root / "target", ignore_errors=True), listed
    )
    figures.warm = listed(_run(ls, root, env))
    shutil.rmtree(root / "target", ignore_errors=True)
    parse = _run([dbt, "parse"], root, env)
    ls_after = listed(_run(ls, root, env))
    compile_ = _run([dbt, "compile"], root, env)
    figures.notes.append(
        f"also: `dbt parse` cold {parse.shown()} s, then `dbt ls` {ls_after.shown()} s "
        f"(the pair: {_sum(parse, ls_after)} s); `dbt compile` warm (renders the {models} "
        f"models' SQL into target/compiled, opens DuckDB) {compile_.shown()} s"
        + "".join(f" [{t.error}]" for t in (parse, ls_after, compile_) if t.error)
    )
    console.print("dbt: run …")
    figures.build = _run([dbt, "run"], root, env)
    figures.noop = listed(_run(ls, root, env))
    if figures.build.error is None:
        figures.check = _duckdb_check(venv, root / "dbt.duckdb", f"bench.{model_name(models - 1)}")
    return figures


def _sum(*timed: Timed) -> str:
    if any(t.seconds is None for t in timed):
        return "—"
    return f"{sum(t.seconds or 0.0 for t in timed):.2f}"


def _sqlmesh(
    base: Path, venv: Path, versions: dict[str, str], models: int, console: Console
) -> Figures:
    root = base / "sqlmesh_project"
    shutil.rmtree(root, ignore_errors=True)
    sqlmesh_project(root, models)
    env = tool_env(root)
    figures = Figures(
        "SQLMesh",
        f"sqlmesh {versions.get('sqlmesh')} (sqlglot {versions.get('sqlglot')}, "
        f"duckdb {versions.get('duckdb')})",
        "python -c 'Context(paths=[root]).plan_builder(\"prod\").build()'",
        "sqlmesh plan --auto-apply --no-prompts",
        "a new Python process: import sqlmesh, load the project and the "
        f"{models} models (parse, render, fingerprint), open the DuckDB state, diff the "
        "models against prod and compute the new snapshots and missing intervals — the plan "
        "`sqlmesh plan` shows before it asks to apply (its CLI without --auto-apply then "
        "prompts, so the Python API is used); nothing is applied; cold = no .cache/ and no "
        "state database, warm = the model cache filled",
    )
    plan = [str(venv / "bin" / "python"), "-c", SQLMESH_PLAN, str(root)]

    def planned(new: int) -> Check:
        def check(timed: Timed) -> Timed:
            counts = timed.output.split()[-3:]
            if timed.error is None and counts[:2] != [str(models), str(new)]:
                timed.error = f"planned {' '.join(counts)!r}, expected {models} models, {new} new"
            return timed

        return check

    def reset() -> None:
        shutil.rmtree(root / ".cache", ignore_errors=True)
        for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
            (root / name).unlink(missing_ok=True)

    console.print("SQLMesh: plan (cold, warm) …")
    figures.cold = _cold(plan, root, env, reset, planned(models))
    figures.warm = planned(models)(_run(plan, root, env))
    console.print("SQLMesh: plan --auto-apply …")
    sqlmesh = str(venv / "bin" / "sqlmesh")
    figures.build = _run(
        [sqlmesh, "--paths", str(root), "plan", "--auto-apply", "--no-prompts"], root, env
    )
    figures.noop = planned(0)(_run(plan, root, env))
    if figures.build.error is None:
        figures.check = _duckdb_check(
            venv, root / "warehouse.duckdb", f"bench.{model_name(models - 1)}"
        )
    return figures


def _duckdb_check(venv: Path, database: Path, table: str) -> str:
    done = _run(
        [str(venv / "bin" / "python"), "-c", DUCKDB_CHECK, str(database), check_sql(table)],
        database.parent,
    )
    if done.error:
        return f"check failed: {done.error}"
    rows, total = done.output.split()
    return f"{rows} rows, sum(v)={total}"


def _unavailable(tool: str, error: str) -> Figures:
    return Figures(tool, "not available", "", "", "", error=error)


# -- the table ---------------------------------------------------------------------
def run_models500_bench(work: Path, sizes: str, models: int = MODELS) -> None:
    """``sizes`` is the ingest benchmark's; this one always builds ``models`` models."""
    del sizes
    work = work.resolve()
    base = work / f"models{models}"
    base.mkdir(parents=True, exist_ok=True)
    console = Console(width=160)
    made = tools_venv(work, DBT_SQLMESH, console)
    venv, versions, errors = made.path, made.versions, made.errors
    results = [_weir(base, models, console)]
    for key, tool, measure in (("dbt", "dbt-duckdb", _dbt), ("sqlmesh", "SQLMesh", _sqlmesh)):
        if key in errors:
            results.append(_unavailable(tool, errors[key]))
            continue
        try:
            results.append(measure(base, venv, versions, models, console))
        except Exception as exc:  # one tool going wrong must not hide the others
            results.append(_unavailable(tool, f"{type(exc).__name__}: {exc}".splitlines()[0]))
    _print(console, results, models)


def _print(console: Console, results: list[Figures], models: int) -> None:
    ours = results[0]
    weir_plan = ours.cold.seconds if ours.cold else None
    weir_build = ours.build.seconds if ours.build else None
    table = Table(
        title=f"{models} chained SQL models ({ROWS:,} rows each): load + plan, and full build, "
        "each a new process, one thread"
    )
    for column in (
        "tool",
        "load+plan s (cold)",
        "warm",
        "no-op",
        "build s",
        "load+plan ÷ weir",
        "build ÷ weir",
        "last model",
        f"target weir ≥{TARGET:.0f}x",
    ):
        table.add_column(column, justify="left" if column in ("tool", "last model") else "right")
    rows, total = expected(models)
    answer = f"{rows} rows, sum(v)={total}"
    for figures in results:
        if figures.error:
            table.add_row(
                figures.tool, "n/a", "n/a", "n/a", "n/a", "—", "—", figures.error, "not measured"
            )
            continue
        plan_ratio = _ratio(figures.cold, weir_plan)
        if figures is ours:
            target = ""
        elif plan_ratio is None:
            target = "—"
        else:
            target = "met" if plan_ratio >= TARGET else "missed"
        check = figures.check
        if check and check != answer:
            check += f" ≠ expected {answer}"
        table.add_row(
            figures.tool,
            _cell(figures.cold),
            _cell(figures.warm),
            _cell(figures.noop),
            _cell(figures.build),
            f"{plan_ratio:.1f}x" if plan_ratio is not None else "—",
            f"{r:.1f}x" if (r := _ratio(figures.build, weir_build)) is not None else "—",
            check,
            target,
        )
    console.print(table)
    console.print(
        f"cold = a new project (no state, no caches), median of {COLD_RUNS} runs; warm = the same "
        "command again; no-op = the plan after the full build (nothing to build). "
        f"Ratios are the tool's time ÷ weir's; the last model should hold {answer}."
    )
    for figures in results:
        if figures.error:
            console.print(f"\n{figures.tool}: not measured: {figures.error}", markup=False)
            continue
        console.print(f"\n{figures.tool} — {figures.version}", markup=False)
        console.print(f"  plan:  {figures.plan_command}", markup=False)
        console.print(f"         measures {figures.measures}", markup=False)
        if figures.cold and figures.cold.runs:
            runs = ", ".join(f"{s:.2f}" for s in figures.cold.runs)
            console.print(f"         cold runs: {runs} s", markup=False)
        console.print(f"  build: {figures.build_command}", markup=False)
        for label, timed in (
            ("cold plan", figures.cold),
            ("warm plan", figures.warm),
            ("build", figures.build),
            ("no-op plan", figures.noop),
        ):
            if timed is not None and timed.error:
                console.print(f"  {label} failed: {timed.error}", markup=False)
        for note in figures.notes:
            console.print(f"  {note}", markup=False)
    ratios = {f.tool: _ratio(f.cold, weir_plan) for f in results[1:]}
    measured = {tool: r for tool, r in ratios.items() if r is not None}
    for tool, ratio in measured.items():
        peer = next(f for f in results if f.tool == tool)
        record(
            f"{models} models, load + plan (a new process), vs {tool}",
            f"{weir_plan:.2f} s",
            f"{tool}: {_cell(peer.cold)} s",
            f"weir {ratio:.1f}x faster",
            f">= {TARGET:.0f}x faster",
            ratio >= TARGET,
        )
    if weir_plan is None:
        verdict = "weir's plan failed: target not measured"
    else:
        shown = ", ".join(f"{tool} {r:.1f}x" for tool, r in measured.items()) or "nothing"
        missed = [tool for tool, r in measured.items() if r < TARGET]
        unmeasured = [tool for tool, r in ratios.items() if r is None]
        verdict = f"weir's cold load + plan {weir_plan:.2f} s; the others take {shown} as long. "
        goal = f"Target (weir ≥ {TARGET:.0f}x faster than both)"
        if missed:
            verdict += f"{goal} MISSED against {', '.join(missed)}."
        elif unmeasured:
            verdict += f"{goal} not established: {', '.join(unmeasured)} not measured."
        else:
            verdict += f"{goal} met."
    console.print(f"\n{verdict}", markup=False)


def _cell(timed: Timed | None) -> str:
    return "—" if timed is None else timed.shown()


def _ratio(timed: Timed | None, base: float | None) -> float | None:
    if timed is None or timed.seconds is None or not base:
        return None
    return timed.seconds / base
