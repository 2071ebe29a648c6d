"""Plan and run models: build what changed or is due, audit it, then publish it.

Write-audit-publish: a model's new version is built into a DuckDB table, its
audits run against it, and only when every audit passes are its Parquet files
written and committed to the lake in one Iceberg commit (with the snapshots
of everything it read in the snapshot summary). A failing audit leaves
readers on the last good version and skips the model's dependents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict, Unpack

from sqlglot import exp

from weir.engine import Engine, EngineError, Session, ident, lit
from weir.engine.dialects import untranslatable
from weir.engine.sql import DIALECT
from weir.errors import ProjectError
from weir.lake import Lake, LakeViews, Pin, TableWrite
from weir.lake.catalog import same_columns
from weir.lake.filters import between, equal, every_row
from weir.transform.dag import ModelGraph
from weir.transform.kinds import (
    OPEN_END,
    OPEN_START,
    Since,
    audit_sql,
    build_sql,
    describe_audit,
    scd2_extracts_sql,
)
from weir.transform.lineage import column_lineage
from weir.transform.model import Model
from weir.transform.state import ModelBuild, ModelState, RunLog, new_run_id

if TYPE_CHECKING:
    from weir.lake.filters import RowFilter

Progress = Callable[[str, str], None]


class Window(TypedDict, total=False):
    """How far a run reaches: every interval again (``full_refresh``), or the days from ``start`` to ``end``."""

    full_refresh: bool
    start: date | None
    end: date | None


SAMPLE_ROWS = 5
# an SCD2 model's watermark is "<last extract>|<extracts built>"
SCD2_MARK = "|"
SCD2_REBUILT = "; an extract at or before the last one built arrived: every extract rebuilt"


@dataclass(frozen=True)
class PlannedBuild:
    model: str
    kind: str
    build: bool
    reason: str
    interval: tuple[str, str] | None = None
    waiting: bool = False  # no data yet: a source it reads (maybe upstream) was never ingested


@dataclass(frozen=True)
class RunResult:
    run_id: str
    builds: list[ModelBuild]

    @property
    def ok(self) -> bool:
        return all(b.status != "failed" for b in self.builds)


# The lake layers ingestion writes (a model reads a source through them).
_SOURCE_LAYERS = ("raw", "staging", "quarantine")


class Runner:
    def __init__(
        self,
        graph: ModelGraph,
        lake: Lake,
        log: RunLog,
        progress: Progress | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.graph = graph
        self.lake = lake
        self.log = log
        self.progress = progress or (lambda model, stage: None)
        self.engine = engine or lake.engine  # builds the models; the lake commits what it writes

    # -- planning -------------------------------------------------------------------
    def plan(
        self,
        selectors: Sequence[str] | None = None,
        full_refresh: bool = False,
        start: date | None = None,
        end: date | None = None,
    ) -> list[PlannedBuild]:
        selected = self.graph.select(selectors)
        _check_dialect([self.graph.models[name] for name in selected], self.engine)
        states = self.log.states()
        planned: list[PlannedBuild] = []
        rebuilding: set[str] = set()
        waiting: set[str] = set()
        tables = {f"{layer}.{name}" for layer, name in self.lake.tables()}
        snapshots = _Snapshots(self.lake, states)
        for name in selected:
            model = self.graph.models[name]
            unfed = [
                d for d in model.depends_on if d.split(".")[0] in _SOURCE_LAYERS and d not in tables
            ]
            # upstream models that wait in this run, or that were never built and are not in it
            starved = [
                d
                for d in model.depends_on
                if d in waiting
                or (d in self.graph.models and d not in tables and d not in selected)
            ]
            if unfed or starved:
                # not a failure: the model builds at the first run after its sources' first
                # batch (a model asked for by its bare name fails at run, naming what is missing)
                reason = (
                    "no data yet: never ingested: " + ", ".join(sorted(unfed))
                    if unfed
                    else "no data yet upstream: " + ", ".join(sorted(starved))
                )
                waiting.add(name)
                planned.append(PlannedBuild(name, model.kind, False, reason, waiting=True))
                continue
            state = states.get(name)
            # a model never built is built: what it reads does not matter yet
            inputs = snapshots.of(model) if state is not None else {}
            item = self._decide(model, state, inputs, rebuilding, full_refresh, start, end)
            if item.build:
                rebuilding.add(name)
            planned.append(item)
        return planned

    def _inputs(self, model: Model) -> dict[str, int | None]:
        return _Snapshots(self.lake, {}).of(model)

    def _decide(
        self,
        model: Model,
        state: ModelState | None,
        inputs: dict[str, int | None],
        rebuilding: set[str],
        full_refresh: bool,
        start: date | None,
        end: date | None,
    ) -> PlannedBuild:
        everything = (OPEN_START, OPEN_END) if model.kind == "incremental_by_time" else None

        def build(reason: str, interval: tuple[str, str] | None = everything) -> PlannedBuild:
            return PlannedBuild(model.name, model.kind, True, reason, interval)

        if state is None or not self.lake.exists(model.namespace, model.table):
            return build("new model")
        if state.fingerprint != model.fingerprint:
            return build("changed SQL")
        if full_refresh:
            return build("full refresh")
        if start is not None or end is not None:
            window = (
                (start or date.fromisoformat(OPEN_START)).isoformat(),
                (end or date.fromisoformat(OPEN_END)).isoformat(),
            )
            return build(
                f"backfill {window[0]} … {window[1]}",
                window if model.kind == "incremental_by_time" else None,
            )
        upstream = sorted(d for d in model.depends_on if d in rebuilding)
        changed = sorted(
            t for t, snap in inputs.items() if snap != state.inputs.get(t) and t not in rebuilding
        )
        if not upstream and not changed:
            return PlannedBuild(model.name, model.kind, False, "up to date")
        reason = (
            "new data in " + ", ".join(changed)
            if changed
            else "upstream rebuilt: " + ", ".join(upstream)
        )
        if model.kind == "incremental_by_time" and state.watermark is not None:
            since = date.fromisoformat(state.watermark) - timedelta(days=model.header.lookback)
            return build(reason, (since.isoformat(), OPEN_END))
        last = _scd2_watermark(state.watermark) if model.kind == "scd2" else None
        if last is not None and not upstream:
            return build(reason, (last[0], OPEN_END))  # the extracts after the last one built
        return build(reason)

    # -- running -------------------------------------------------------------------
    def run(self, selectors: Sequence[str] | None = None, **window: Unpack[Window]) -> RunResult:
        run_id = new_run_id()
        plan = self.plan(selectors, **window)
        self.log.start(run_id, list(selectors or []))
        con = self.engine.writer()
        try:
            LakeViews(self.lake).show(con, self._read_by(plan), Pin())
        except BaseException:
            con.close()
            raise
        builds: list[ModelBuild] = []
        broken: set[str] = set()
        context = _RunContext(self.log.states(), self.log.lineage())
        named = {s for s in selectors or [] if not s.startswith("+") and not s.endswith("+")}
        try:
            for item in plan:
                model = self.graph.models[item.model]
                blocked = sorted(d for d in model.depends_on if d in broken)
                if item.waiting and model.name in named:  # asked for, and it cannot build yet
                    build = self._failed(
                        run_id,
                        model,
                        item,
                        time.perf_counter(),
                        {},
                        f"it cannot build yet ({item.reason}): ingest those sources, or build"
                        f" what it reads, first (`weir run +{model.name}` builds its upstream)",
                    )
                    broken.add(model.name)
                elif item.waiting:  # not a failure: it builds once its sources are ingested
                    build = ModelBuild(model.name, model.kind, "skipped", item.reason)
                elif blocked:
                    build = ModelBuild(
                        model.name, model.kind, "skipped", "upstream failed: " + ", ".join(blocked)
                    )
                    broken.add(model.name)
                elif not item.build:
                    build = ModelBuild(model.name, model.kind, "up_to_date", item.reason)
                else:
                    build = self._build(con, run_id, model, item, context)
                    if build.status == "failed":
                        broken.add(model.name)
                if build.status in ("skipped", "up_to_date"):
                    self.log.record(run_id, build, None)
                builds.append(build)
            self.log.finish(run_id, "failed" if broken else "succeeded")
        except BaseException as exc:
            self.log.finish(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            con.close()
        return RunResult(run_id, builds)

    def _read_by(self, plan: Sequence[PlannedBuild]) -> list[str]:
        """The lake tables the models to build read (and their own, which a kind may read)."""
        models = [self.graph.models[item.model] for item in plan if item.build]
        wanted = {name for model in models for name in (*model.depends_on, model.name)}
        return sorted(wanted & {f"{layer}.{name}" for layer, name in self.lake.tables()})

    def _build(
        self,
        con: Session,
        run_id: str,
        model: Model,
        item: PlannedBuild,
        context: _RunContext,
    ) -> ModelBuild:
        started = time.perf_counter()
        self.progress(model.name, item.reason)
        inputs = self._inputs(model)
        params: dict[str, object] = {}
        if item.interval is not None and model.kind == "incremental_by_time":
            params = {"start": item.interval[0], "end": item.interval[1]}
        try:
            typed = con.columns(model.sql, _named(model.sql, params))
            columns = [name for name, _ in typed]
            since = self._scd2_since(con, model, item, context.states.get(model.name), typed)
            if model.kind == "scd2" and since is None and item.interval is not None:
                item = PlannedBuild(item.model, item.kind, True, item.reason + SCD2_REBUILT, None)
            sql = build_sql(model, columns, since)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE weir_new AS {sql}", _named(sql, params)
            ).fetchall()
        except EngineError as exc:
            error = exc.what.strip().splitlines()[0]
            return self._failed(run_id, model, item, started, inputs, f"the SQL failed: {error}")
        failure = self._audit(con, model, since is not None)
        if failure is not None:
            message, sample = failure
            return self._failed(run_id, model, item, started, inputs, message, sample)
        rows = _scalar(con, "SELECT count(*) FROM weir_new")
        state_before = context.states.get(model.name)
        # before publishing: the lake seals the columns lineage finds personal as it writes
        lineage = context.lineage_of(model, state_before) or column_lineage(con, model)
        snapshot_id = self._publish(con, run_id, model, item, inputs, lineage)
        watermark = self._watermark(con, model, item, state_before)
        build = ModelBuild(
            model.name,
            model.kind,
            "built",
            item.reason,
            item.interval,
            rows,
            time.perf_counter() - started,
            snapshot_id,
            inputs,
            lineage,
        )
        state = ModelState(
            model.name,
            model.kind,
            model.fingerprint,
            watermark,
            inputs,
            snapshot_id,
            run_id,
            time.time(),
        )
        self.log.record(run_id, build, state)
        LakeViews(self.lake).show(con, [model.name])  # what its dependents read
        return build

    def _failed(
        self,
        run_id: str,
        model: Model,
        item: PlannedBuild,
        started: float,
        inputs: dict[str, int | None],
        message: str,
        sample: list[dict[str, object]] | None = None,
    ) -> ModelBuild:
        build = ModelBuild(
            model.name,
            model.kind,
            "failed",
            item.reason,
            item.interval,
            None,
            time.perf_counter() - started,
            None,
            inputs,
            {},
            message,
            sample or [],
        )
        self.log.record(run_id, build, None)
        return build

    def _scd2_since(
        self,
        con: Session,
        model: Model,
        item: PlannedBuild,
        before: ModelState | None,
        typed: list[tuple[str, str]],
    ) -> Since | None:
        """The last extract built, when only newer ones arrived since; None means build it all.

        An extract at or before the last one built (a late or replayed file)
        changes history, so then the model is built again from every extract.
        """
        if model.kind != "scd2" or item.interval is None or before is None:
            return None
        last = _scd2_watermark(before.watermark)
        if last is None:
            return None
        extract, count = last
        column = str(model.header.valid_from)
        version = ident(column)
        (held,) = con.execute(
            f"SELECT count(DISTINCT {version}) FROM ({model.sql}) AS model"
            f" WHERE {version} <= CAST({lit(extract)} AS {dict(typed)[column]})"
        ).fetchall()
        if int(held[0]) != count:
            return None
        return Since(extract, dict(typed)[column])

    def _audit(
        self, con: Session, model: Model, incremental: bool = False
    ) -> tuple[str, list[dict[str, object]]] | None:
        for audit in model.header.audits:
            if audit.row_count_change is not None:
                failure = self._row_count_change(
                    con, model, audit.row_count_change.max_pct, incremental
                )
                if failure is not None:
                    return failure
                continue
            query = audit_sql(audit, "weir_new")
            try:
                sample = con.arrow(f"SELECT * FROM ({query}) LIMIT {SAMPLE_ROWS}").to_pylist()
                # counted only when it fails: a passing audit is one statement, not two
                failing = _scalar(con, f"SELECT count(*) FROM ({query})") if sample else 0
            except EngineError as exc:
                return (
                    f"audit {describe_audit(audit)} could not run: {exc.what.splitlines()[0]}",
                    [],
                )
            if failing:
                return f"audit {describe_audit(audit)} failed on {failing} row(s)", sample
        return None

    def _row_count_change(
        self, con: Session, model: Model, max_pct: float, incremental: bool = False
    ) -> tuple[str, list[dict[str, object]]] | None:
        if model.kind == "incremental_by_time" or not self.lake.exists(
            model.namespace, model.table
        ):
            return None
        snapshot = self.lake.snapshot_for(model.namespace, model.table)
        before = (
            int(snapshot.summary.get("total-records", "0")) if snapshot and snapshot.summary else 0
        )
        after = _scalar(con, "SELECT count(*) FROM weir_new")
        if incremental:  # the new rows replace the current versions only
            this = exp.to_table(model.name).sql("duckdb")
            after += before - _scalar(con, f"SELECT count(*) FROM {this} WHERE is_current")
        if before == 0:
            return None
        change = abs(after - before) * 100.0 / before
        if change > max_pct:
            detail: dict[str, object] = {
                "rows_before": before,
                "rows_after": after,
                "change_pct": round(change, 2),
            }
            return f"audit row_count_change failed: {change:.1f} % > {max_pct} %", [detail]
        return None

    def _publish(
        self,
        con: Session,
        run_id: str,
        model: Model,
        item: PlannedBuild,
        inputs: dict[str, int | None],
        lineage: dict[str, list[str]],
    ) -> int | None:
        day_of = model.header.time_column if model.kind == "incremental_by_time" else None
        schema = con.lake_schema("SELECT * FROM weir_new")
        if self.lake.exists(model.namespace, model.table):
            current = self.lake.arrow_schema(model.namespace, model.table)
            replaces_all = item.interval in (None, (OPEN_START, OPEN_END))
            if replaces_all and not same_columns(current, schema):
                self.lake.drop(model.namespace, model.table)  # new columns or types: a new table
        write = self.lake.write_parquet(
            con,
            model.namespace,
            model.table,
            "SELECT * FROM weir_new",
            run_id,
            day_of,
            lineage=lineage,
        )
        delete = self._replaced(model, item)
        properties = {
            "weir.run_id": run_id,
            "weir.model": model.name,
            "weir.inputs": json.dumps(inputs),
            "weir.fingerprint": model.fingerprint,
        }
        if item.interval is not None:
            properties["weir.interval"] = f"{item.interval[0]}/{item.interval[1]}"
        # the delete applies to the table as it is at the commit (an empty table: nothing)
        writes = [TableWrite(model.namespace, model.table, write.files, delete)]
        snapshots = self.lake.commit(run_id, writes, properties)
        if model.name in snapshots:
            return snapshots[model.name]
        # nothing to commit (no rows, nothing to replace): the table stays at its current snapshot
        current = self.lake.snapshot_for(model.namespace, model.table)
        return current.snapshot_id if current is not None else None

    def _replaced(self, model: Model, item: PlannedBuild) -> RowFilter:
        if item.interval is None or item.interval == (OPEN_START, OPEN_END):
            return every_row()
        if model.kind == "scd2":
            return equal("is_current", True)
        column = str(model.header.time_column)
        kind = self.lake.arrow_schema(model.namespace, model.table).field(column).type
        low, high = item.interval
        if str(kind).startswith("timestamp"):
            low, high = f"{low}T00:00:00+00:00", f"{high}T00:00:00+00:00"
        return between(column, low, high)

    def _watermark(
        self,
        con: Session,
        model: Model,
        item: PlannedBuild,
        before: ModelState | None,
    ) -> str | None:
        if model.kind == "scd2":
            newest, count = con.execute(scd2_extracts_sql(model)).fetchall()[0]
            return None if newest is None else f"{newest}{SCD2_MARK}{int(count)}"
        if model.kind != "incremental_by_time":
            return None
        column = str(model.header.time_column)
        newest = con.execute(f'SELECT max(CAST("{column}" AS DATE)) FROM weir_new').fetchall()[0]
        previous = (
            before.watermark
            if before is not None and item.interval != (OPEN_START, OPEN_END)
            else None
        )
        found = newest[0].isoformat() if newest and newest[0] is not None else None
        return (
            max(v for v in (found, previous, None) if v is not None)
            if (found or previous)
            else None
        )

    def _files(self, model: Model) -> list[str]:
        return self.lake.data_files(
            model.namespace, model.table, self.lake.snapshot_for(model.namespace, model.table)
        )


class _Snapshots:
    """Current snapshot ids of the tables models read, each looked up once.

    A model's table is read from its recorded state (weir writes it and
    records the snapshot it committed); only ingested tables are looked up
    in the catalog.
    """

    def __init__(self, lake: Lake, states: dict[str, ModelState]) -> None:
        self.lake = lake
        self.states = states
        self.known: dict[str, int | None] = {}
        self.tables = {f"{layer}.{name}" for layer, name in lake.tables()}

    def of(self, model: Model) -> dict[str, int | None]:
        return {name: self.snapshot(name) for name in model.depends_on}

    def snapshot(self, name: str) -> int | None:
        if name not in self.known:
            state = self.states.get(name)
            if state is not None:
                self.known[name] = state.snapshot_id
            elif name in self.tables:
                layer, table = name.split(".", 1)
                self.known[name] = self.lake.current_snapshot_id(layer, table)
            else:
                self.known[name] = None
        return self.known[name]


@dataclass
class _RunContext:
    """What one run knows before it starts, and which models it reshaped."""

    states: dict[str, ModelState]
    lineages: dict[str, dict[str, list[str]]]
    reshaped: set[str] = field(default_factory=set)

    def lineage_of(self, model: Model, before: ModelState | None) -> dict[str, list[str]] | None:
        """The last build's column lineage while neither the model's SQL nor an input's shape changed.

        Lineage depends on the SQL and on the columns of what it reads; when
        neither moved, parsing it again would give the same answer.
        """
        unchanged = before is not None and before.fingerprint == model.fingerprint
        if not unchanged or set(model.depends_on) & self.reshaped:
            self.reshaped.add(model.name)
            return None
        return self.lineages.get(model.name) or None


def _check_dialect(models: Sequence[Model], engine: Engine) -> None:
    """Refuse, before anything runs, models (or audits) the engine cannot run with their meaning.

    Models are written in DuckDB's dialect; an engine speaking another one gets them
    transpiled, and a construct that would not carry over, or would change meaning, is
    named here with its file and line.
    """
    dialect = engine.capabilities.dialect
    if dialect == DIALECT:
        return
    found: list[str] = []
    for model in models:
        shown = f"models/{model.namespace}/{model.table}.sql"
        text = model.path.read_text(encoding="utf-8")
        start = text.find(model.sql)
        offset = text.count("\n", 0, start) if start >= 0 else 0
        for problem in untranslatable(model.sql, dialect):
            found.append(
                f"{shown} line {offset + problem.line}: {problem.construct}: {problem.why}"
            )
        for audit in model.header.audits:
            if audit.sql is not None:
                for problem in untranslatable(audit.sql, dialect):
                    found.append(f"{shown} audit sql: {problem.construct}: {problem.why}")
    if found:
        raise ProjectError(
            f"engine: {engine.capabilities.name} cannot run these models as written: "
            + "; ".join(found),
            "write them in SQL both engines share (docs/engines.md), or build with engine: duckdb",
        )


def _scd2_watermark(watermark: str | None) -> tuple[str, int] | None:
    """An SCD2 model's watermark: its last extract (as text) and how many extracts it has built."""
    if watermark is None or SCD2_MARK not in watermark:
        return None
    extract, _, count = watermark.rpartition(SCD2_MARK)
    return (extract, int(count)) if count.isdigit() else None


def _named(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Only the parameters the SQL names: DuckDB refuses the others."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _scalar(con: Session, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetch to the end: DuckDB keeps a half-read result open
    return int(rows[0][0]) if rows and rows[0][0] is not None else 0
