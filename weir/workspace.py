"""The front door to one project folder, for the CLI, the API and notebooks.

``weir.Project("path")`` opens a project; each method is one operation of the
platform (ingest, sql, status, quarantine …) and returns plain data: Arrow
tables (``.to_pandas()``, ``polars.from_arrow``) or frozen records.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import cast

import pyarrow as pa

from weir.errors import NotFoundError, ProjectError, QueryError
from weir.governance.audit import HEAD_FILE, AuditLog
from weir.governance.gateway import Gateway, QueryResult, mask_key
from weir.governance.operations import record_definition, record_ingest, record_run
from weir.governance.policy import Policy, Principal, lake_columns
from weir.governance.reader import GovernedReader
from weir.governance.tokens import Tokens
from weir.ingest import BatchResult, Ingestor, Ledger, PaymentTokenizer
from weir.ingest.batch import Progress, matches_under, unmatched_folder
from weir.ingest.collector import Collector
from weir.ingest.consumers import (
    AfterLakeCommit,
    StreamConsumer,
    check_consumers,
    open_consumer,
)
from weir.ingest.keys import WriteKeys
from weir.ingest.status import SourceStatus, quarantine_summary, source_statuses
from weir.ingest.stream_status import StreamStatus, stream_statuses
from weir.lake import LAYERS, Lake, SnapshotInfo
from weir.lake.query import LakeReader, Pin
from weir.metadata import MetadataStore
from weir.metadata.store import sqlite_url
from weir.metrics import GRAINS, KpiDefinition, KpiQuestion, answer, load_catalogue
from weir.metrics.flags import DayFlags
from weir.metrics.query import Compare
from weir.project import ProjectFiles, find_root, load_project
from weir.project.consumers import ConsumerConfig
from weir.transform import ModelGraph, PlannedBuild, RunLog, Runner, RunResult, load_models
from weir.transform.lineage import dataset_lineage

EXAMPLES = ("retail",)


class Project:
    """An opened project: its files, its lake and its metadata."""

    def __init__(self, path: str | Path = ".", progress: Progress | None = None) -> None:
        root = find_root(Path(path))
        self.files: ProjectFiles = load_project(root)
        state = self.files.state_dir
        state.mkdir(parents=True, exist_ok=True)
        uri = self.files.config.catalog_uri or sqlite_url(state / "catalog.db")
        self.store = MetadataStore(uri)
        with self.store.setting_up():  # the catalog creates its tables in a new database
            self.lake = Lake(uri, state / "lake")
        self.ledger = Ledger(self.store)
        self.progress = progress
        self._governance: tuple[object, Policy, Gateway] | None = None
        self._ingestor = Ingestor(
            self.files, self.lake, self.ledger, PaymentTokenizer.for_state_dir(state), progress
        )
        record_definition(self.audit(), root)  # a changed weir.yml, source, model or KPI

    @property
    def root(self) -> Path:
        return self.files.root

    @property
    def sources(self) -> list[str]:
        return sorted(self.files.sources)

    # -- ingest -------------------------------------------------------------------
    def ingest(
        self, sources: Sequence[str] | None = None, path: Path | None = None
    ) -> list[BatchResult]:
        """Ingest the new files of ``sources`` (all by default), one batch per source."""
        names = list(sources) if sources else self.sources
        for name in names:
            self.files.source(name)  # fail before any work on an unknown name
        if path is not None and not sources:
            # every source: those with a file under the path (none of them is an error)
            configs = [self.files.source(name) for name in names]
            names = [c.name for c in configs if matches_under(c, path)]
            if not names:
                raise unmatched_folder(path if path.is_absolute() else Path.cwd() / path, configs)
        self._ingestor.recover()
        return record_ingest(
            self.audit(),
            names,
            path,
            lambda: [self._ingestor.ingest(name, [path] if path else None) for name in names],
        )

    def recover(self) -> list[str]:
        return self._ingestor.recover()

    def status(self) -> list[SourceStatus]:
        return source_statuses(self.files, self.lake, self.ledger)

    # -- the event collector --------------------------------------------------------
    def collector(self) -> Collector:
        """A new event collector over this project's logs (``weir serve`` runs one)."""
        return Collector(self.files, self._ingestor, self.ledger, self.lake)

    def write_keys(self) -> WriteKeys:
        """The write keys trackers post events with."""
        return WriteKeys(self.store)

    # -- streams ------------------------------------------------------------------
    def consumer(
        self, config: ConsumerConfig, after_lake_commit: AfterLakeCommit | None = None
    ) -> StreamConsumer:
        """A Kafka or MQTT consumer of ``config`` into its source (``run`` it, or ``start``/``stop``)."""
        return open_consumer(config, self._ingestor, after_lake_commit)

    def consumers(self) -> list[StreamConsumer]:
        """The consumers ``weir.yml`` lists (what ``weir serve`` runs)."""
        check_consumers(self.files)
        return [self.consumer(config) for config in self.files.config.consumers]

    def streams(self, backlog: Callable[[str], int] | None = None) -> list[StreamStatus]:
        """Each stream into the lake: kind, events/s, backlog or lag, last commit."""
        return stream_statuses(self.files, self.ledger, backlog)

    # -- quarantine ---------------------------------------------------------------
    def quarantine_summary(self) -> pa.Table:
        return quarantine_summary(self.lake, self.files)

    def quarantine(self, source: str, limit: int = 20, reason: str | None = None) -> pa.Table:
        """The records of ``source`` held in quarantine, with their reasons."""
        self.files.source(source)
        if not self.lake.exists("quarantine", source):
            raise NotFoundError(
                f"nothing of {source} is in quarantine", "ingest it first: `weir ingest`"
            )
        query = f'SELECT * EXCLUDE (_raw) , _raw FROM quarantine."{source}"'
        if reason:
            escaped = reason.replace("'", "''")
            query += f" WHERE list_contains(list_transform(_reasons, lambda r: contains(r, '{escaped}')), true)"
        query += f" ORDER BY _source_file, _offset LIMIT {int(limit)}"
        return self.reader().sql(query)

    def replay(self, source: str) -> BatchResult:
        """Check held records against the current contract; those that pass move to staging."""
        self._ingestor.recover()
        return self._ingestor.replay(source)

    # -- models -------------------------------------------------------------------
    def graph(self) -> ModelGraph:
        tables = frozenset(f"{layer}.{name}" for layer, name in self.lake.tables())
        ingested = frozenset(f"{layer}.{name}" for layer in LAYERS for name in self.files.sources)
        return ModelGraph(load_models(self.root), tables | ingested)

    def runner(self) -> Runner:
        return Runner(self.graph(), self.lake, RunLog(self.store), self.progress)

    def plan(
        self,
        select: Sequence[str] | None = None,
        full_refresh: bool = False,
        start: date | None = None,
        end: date | None = None,
    ) -> list[PlannedBuild]:
        """What ``run`` would build, and why, without building."""
        return self.runner().plan(select, full_refresh, start, end)

    def run(
        self,
        select: Sequence[str] | None = None,
        full_refresh: bool = False,
        start: date | None = None,
        end: date | None = None,
        ingest: bool = True,
    ) -> tuple[list[BatchResult], RunResult]:
        """Ingest new files, then build the models that changed or are due."""
        return record_run(
            self.audit(),
            select,
            full_refresh,
            start,
            end,
            lambda: (
                self.ingest() if ingest else [],
                self.runner().run(select, full_refresh, start, end),
            ),
        )

    def lineage(self, dataset: str) -> dict[str, object]:
        """Upstream and downstream datasets of ``dataset`` (``namespace.table[.column]``)."""
        return dataset_lineage(self.graph(), RunLog(self.store).lineage(), dataset)

    # -- metrics ------------------------------------------------------------------
    def kpis(self) -> list[KpiDefinition]:
        return sorted(load_catalogue(self.root).kpis.values(), key=lambda k: (k.team, k.name))

    def kpi(
        self,
        name: str,
        grain: str = "day",
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        compare: str | None = None,
        exclude_flagged: bool = False,
        as_of: datetime | str | None = None,
    ) -> pa.Table:
        """One KPI of KPIS.md by period (and dimensions), from the marts (as they were at ``as_of``)."""
        definition = load_catalogue(self.root).get(name)
        flagged = (
            tuple(day for day, _, _ in DayFlags(self.store).days()) if exclude_flagged else None
        )
        if grain not in GRAINS:
            raise QueryError(f"unknown grain {grain}", f"use one of {', '.join(GRAINS)}")
        if compare not in (None, "previous_period"):
            raise QueryError(f"unknown comparison {compare}", "use previous_period")
        question = KpiQuestion(
            definition, grain, tuple(by), start, end, cast(Compare | None, compare), flagged
        )
        moment = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        con = self.reader().connect(Pin(as_of=moment.astimezone() if moment else None))
        try:
            return answer(con, question)
        finally:
            con.close()

    def flag_day(self, day: date, dataset: str, reason: str) -> None:
        """Mark a day's KPI inputs as failing a quality check (KPIs can leave it out)."""
        DayFlags(self.store).flag(day, dataset, reason)

    # -- governance ---------------------------------------------------------------
    def policy(self) -> Policy:
        """Roles, grants and column classification, as of the files and the latest builds."""
        return self._governed()[1]

    def gateway(self) -> Gateway:
        """The SQL gateway: queries as a principal, within its grants, masks and row filters."""
        return self._governed()[2]

    def _governed(self) -> tuple[object, Policy, Gateway]:
        # rebuilt when a table appears or goes, or a model is rebuilt (its lineage may differ)
        runs = RunLog(self.store)
        stamp = (
            tuple(self.lake.tables()),
            tuple(sorted((m, s.run_id) for m, s in runs.states().items())),
        )
        if self._governance is None or self._governance[0] != stamp:
            policy = Policy(self.files, runs.lineage(), lake_columns(self.lake))
            gateway = Gateway(policy, self.lake, mask_key(self.files.state_dir))
            self._governance = (stamp, policy, gateway)
        return self._governance

    # -- access: tokens, the audit log, reading as a principal ---------------------
    def audit(self) -> AuditLog:
        """The tamper-evident audit log (``verify()`` checks its hash chain)."""
        return AuditLog(self.store, self.files.state_dir / HEAD_FILE)

    def tokens(self) -> Tokens:
        return Tokens(self.store, self.policy(), self.audit())

    def governed(self) -> GovernedReader:
        """Queries, KPIs, the catalog and lineage as a principal, each read audited."""
        return GovernedReader(
            self.policy, self.gateway, self.audit(), self.lake, self.files, self.store, self.graph
        )

    def query_as(
        self,
        sql: str,
        user: str | Principal,
        role: str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        """Run ``sql`` as ``user`` (in ``role``) through the gateway; audited, allowed or not."""
        return self.governed().query(sql, user, role, as_of, limit)

    def kpi_as(
        self,
        principal: Principal,
        name: str,
        grain: str = "day",
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        compare: str | None = None,
        exclude_flagged: bool = False,
        as_of: datetime | str | None = None,
    ) -> QueryResult:
        """A KPI as ``principal``: only from marts its role may read, its row filters applied."""
        return self.governed().kpi(
            principal, name, grain, by, start, end, compare, exclude_flagged, as_of
        )

    # -- reading ------------------------------------------------------------------
    def reader(self) -> LakeReader:
        return LakeReader(self.lake)

    def sql(
        self, query: str, as_of: datetime | str | None = None, snapshot: int | None = None
    ) -> pa.Table:
        """Run a read-only query over the lake's tables (``raw.pos``, ``staging.pos`` …)."""
        moment = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        if moment is not None and moment.tzinfo is None:
            moment = moment.astimezone()
        return self.reader().sql(query, Pin(as_of=moment, snapshot_id=snapshot))

    def snapshots(self, table: str) -> list[SnapshotInfo]:
        layer, _, name = table.partition(".")
        if not name:
            raise NotFoundError(
                f"'{table}' is not a lake table name", "write it as layer.name, e.g. raw.pos"
            )
        return self.lake.snapshots(layer, name)

    def close(self) -> None:
        self.store.dispose()
        self.lake.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def init_project(target: Path, example: str | None = "retail") -> Path:
    """Create a project folder; with an example, the example's files."""
    target = target.resolve()
    if (target / "weir.yml").exists():
        raise ProjectError(f"{target} already holds a weir project", "choose another folder")
    if example is not None and example not in EXAMPLES:
        raise ProjectError(f"no example named '{example}'", f"choose one of: {', '.join(EXAMPLES)}")
    target.mkdir(parents=True, exist_ok=True)
    if example is None:
        (target / "sources").mkdir(exist_ok=True)
        (target / "weir.yml").write_text(f"name: {_project_name(target)}\n", encoding="utf-8")
    else:
        source = resources.files("weir.demo") / "example"
        with resources.as_file(source) as folder:
            shutil.copytree(folder, target, dirs_exist_ok=True)
    (target / ".gitignore").write_text(".weir/\nlanding/\n", encoding="utf-8")
    return target


def _project_name(folder: Path) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in folder.name.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"project_{cleaned}"
