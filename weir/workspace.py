"""The front door to one project folder, for the CLI, the API and notebooks.

``weir.Project("path")`` opens a project and wires its services; each owns
its domain's operations and their auditing:

- ``sources``: ingest batch sources, recover, replay, quarantine, status;
- ``streams``: the event collector, the broker consumers, stream status;
- ``models``: plan and run the models, their lineage;
- ``kpis``: the KPI definitions and their answers, flagged days;
- ``access``: roles and grants, tokens and write keys, reading as a principal;
- ``keys``, ``keyring``: the key store, sealed under the master key; listing it, rotating that key;
- ``subjects``: find, export and erase one person everywhere (``privacy:`` in weir.yml).
- ``lifecycle``: retention (plan, run), the archive and legal holds.
- ``signin``: passwords and web sessions; ``dashboards``: the team dashboards as a principal
  (``explanations``: what is behind each of their numbers);
- ``catalog``: the datasets a principal may read, their schema and lineage;
- ``audit``: the tamper-evident audit log;
- ``quality``: freshness, volume, drift and KPI anomaly checks, health, flagged days.
- ``alerts``: alert rules, their incidents and the deliveries of their notices.
- ``runs``, ``schedules``: orchestrated runs and the schedules that start them.

Results are plain data: Arrow tables (``.to_pandas()``, ``polars.from_arrow``)
or frozen records. Opening a project reads its files and writes nothing
(but a new state folder, its metadata database and its key store).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import sqlalchemy as sa

from weir.engine import DataKey, DuckDBEngine, Engine
from weir.errors import NotFoundError, ProjectError
from weir.lake import Lake, SnapshotInfo, storage_for
from weir.lake.copy import TableCopy
from weir.metadata import MetadataStore
from weir.metadata.audit import HEAD_FILE, AuditLog
from weir.metadata.definition import ProjectDefinition
from weir.metadata.keys import AT_REST_KEY, ERASURE_KEY, KeyStore
from weir.metadata.master import MASTER_KEY, MASTER_KEY_FILE, MasterKeyError, find_master_key
from weir.metadata.store import sqlite_url
from weir.project import ProjectFiles, find_root, load_project

if TYPE_CHECKING:
    import pyarrow as pa

    from weir.alerts import Alerts
    from weir.governance.access import Access
    from weir.governance.catalog import Catalog
    from weir.governance.dashboards import Dashboards
    from weir.governance.explain import Explanations
    from weir.governance.signin import SignIn
    from weir.governance.subjects import Subjects
    from weir.ingest import BatchResult, Ingestor
    from weir.ingest.batch import Progress
    from weir.ingest.ledger import Ledger
    from weir.ingest.service import Sources
    from weir.lifecycle import Lifecycle
    from weir.metadata.dbkey import DatabaseKey
    from weir.metadata.erasures import ErasureRegistry
    from weir.metadata.keyring import KeyRing
    from weir.metadata.pii import PiiCipher
    from weir.metrics.service import Kpis
    from weir.orchestrate import Orchestration
    from weir.orchestrate.service import Runs, Schedules
    from weir.quality import Quality
    from weir.streams.service import Streams
    from weir.transform import RunResult
    from weir.transform.runner import Window
    from weir.transform.service import Models

EXAMPLES = ("retail", "deliverability")
# where each example project ships, inside the weir.demo package
_EXAMPLE_FOLDERS = {"retail": "example", "deliverability": "examples/deliverability"}


class Project:
    """An opened project: its files, its lake, its metadata, and the services over them.

    Each service is made (and its modules imported) when first used, so a
    command pays only for what it uses: planning the models does not load
    the collector, the alert channels or the scheduler.
    """

    def __init__(self, path: str | Path = ".", progress: Progress | None = None) -> None:
        root = find_root(Path(path))
        self.files: ProjectFiles = load_project(root)
        state = self.files.state_dir
        state.mkdir(parents=True, exist_ok=True)
        # the lake's files: in state_dir, in another folder, or on an object store
        storage = storage_for(self.files.lake_location, staging=state / "staging")
        if self.files.config.encryption.at_rest and not storage.local:
            raise ProjectError(
                f"encryption.at_rest is not available for a lake on object storage"
                f" ({storage.describe()})",
                "use the store's own encryption (e.g. SSE-S3 or SSE-KMS on the bucket) and set"
                " encryption.at_rest to false, or keep the lake in a local folder",
            )
        storage.check()  # the bucket is there and reachable: fail now, not mid-batch
        uri, database_key = self.files.config.catalog_uri, None
        if uri is None:  # the project's own SQLite file: a SQLCipher one when encrypted at rest
            uri, database_key = _metadata_database(
                state, (root, state), self.files.config.encryption.at_rest
            )
        self.store = MetadataStore(uri)
        # the lake's engine: ingestion, people's SQL, the lake's upkeep
        self.engine: Engine = DuckDBEngine(
            memory_limit=self.files.config.duckdb.memory_limit, spill=self.files.spill_dir
        )
        # the engine that builds the models (``engine:`` in weir.yml)
        self.model_engine: Engine = _model_engine(self.files, self.engine)
        # the lake's catalog creates its tables in a new database while holding setting_up
        self.lake = Lake(uri, storage, self.engine, state / "write.lock", self.store.setting_up)
        self.keys = KeyStore(
            self.store, (root, state), clear_keys=state / "keys", database_key=database_key
        )
        self.keys.master()  # without its master key a project does not open (nothing is written)
        self.engine.at_rest = _at_rest_key(
            self.files.config.encryption.at_rest, self.keys, self.lake
        )
        self.audit = AuditLog(self.store, state / HEAD_FILE, ProjectDefinition(root), self.keys)
        if self.files.config.privacy.encrypt_pii:
            from weir.governance.sealing import ProjectSealing
            from weir.ingest.sealing import SourceSealing

            sources = SourceSealing(self.files, self.cipher)
            self.lake.sealing = ProjectSealing(self.files, self.lake, sources, lambda: self.models)
        self.progress = progress
        self._check()

    def _check(self) -> None:
        """What must fail at open, not hours later: a schedule naming a source or model that
        does not exist, a time zone that does not, a retention rule for a source that does not
        (the scheduler's and the life cycle's own checks, run early)."""
        from weir.orchestrate.checks import check_schedules, model_names, project_zone

        project_zone(self.files)
        check_schedules(self.files, lambda: model_names(self.root))
        if "retention" in self.files.config.model_fields_set:
            from weir.lifecycle.rules import check_retention

            check_retention(self.files)  # sources it names, staging kept past the dedupe window

    # -- the services, each made when first used --------------------------------------
    @cached_property
    def keyring(self) -> KeyRing:
        from weir.metadata.keyring import KeyRing

        return KeyRing(self.keys, self.audit)

    @cached_property
    def erasures(self) -> ErasureRegistry:
        from weir.metadata.erasures import ErasureRegistry

        return ErasureRegistry(self.store, lambda: self.keys.key(ERASURE_KEY, "erasure"))

    @cached_property
    def cipher(self) -> PiiCipher:
        from weir.metadata.pii import PiiCipher

        return PiiCipher(self.keys, lambda kind, value: self.erasures.digest(kind, value))

    @cached_property
    def ledger(self) -> Ledger:
        from weir.ingest.ledger import Ledger

        return Ledger(self.store)

    @cached_property
    def ingestor(self) -> Ingestor:
        from weir.ingest import Ingestor, PaymentTokenizer

        return Ingestor(
            self.files,
            self.lake,
            self.ledger,
            PaymentTokenizer.from_keys(self.keys),
            self.progress,
            self.audit,
            self.erasures,
        )

    @cached_property
    def sources(self) -> Sources:
        from weir.ingest.service import Sources

        return Sources(self.ingestor, self.audit)

    @cached_property
    def streams(self) -> Streams:
        from weir.streams.service import Streams

        return Streams(self.ingestor)

    @cached_property
    def models(self) -> Models:
        from weir.transform.service import Models

        return Models(
            self.files, self.lake, self.store, self.audit, self.progress, self.model_engine
        )

    @cached_property
    def kpis(self) -> Kpis:
        from weir.metrics.service import Kpis

        return Kpis(self.files, self.lake, self.store)

    @cached_property
    def access(self) -> Access:
        from weir.governance.access import Access

        return Access(self.files, self.lake, self.store, self.audit, self.kpis, self.keys)

    @cached_property
    def catalog(self) -> Catalog:
        from weir.governance.catalog import Catalog

        return Catalog(self.files, self.lake, self.access, self.models)

    @cached_property
    def subjects(self) -> Subjects:
        from weir.governance.subjects import Subjects

        return Subjects(
            self.files,
            self.lake,
            self.ledger,
            self.audit,
            self.models,
            self.erasures,
            self.cipher,
            guard=lambda subject: self.lifecycle.holds.check_erasable(subject),
            held=lambda subject: self.lifecycle.holds.subject_notice(subject),
        )

    @cached_property
    def signin(self) -> SignIn:
        from weir.governance.signin import SignIn

        return SignIn(self.store, self.access, self.audit)

    @cached_property
    def dashboards(self) -> Dashboards:
        from weir.governance.dashboards import Dashboards

        return Dashboards(self.files, self.access, self.kpis, self.lake)

    @cached_property
    def explanations(self) -> Explanations:
        from weir.governance.explain import Explanations

        return Explanations(self.dashboards, self.catalog, self.kpis, self.lake)

    @cached_property
    def lifecycle(self) -> Lifecycle:
        from weir.lifecycle import Lifecycle

        return Lifecycle(
            self.files,
            self.lake,
            self.store,
            self.ledger,
            self.audit,
            self.sources.recover,
            self.erasures,
        )

    @property
    def quality(self) -> Quality:
        return self._operations.quality

    @property
    def alerts(self) -> Alerts:
        return self._operations.alerts

    @property
    def orchestrate(self) -> Orchestration:
        return self._operations.orchestrate

    @property
    def runs(self) -> Runs:
        return self._operations.orchestrate.runs

    @property
    def schedules(self) -> Schedules:
        return self._operations.orchestrate.schedules

    @cached_property
    def _operations(self) -> _Operations:
        """Quality, alerts and orchestration: made together, as they signal one another."""
        from weir.alerts import Alerts, signals
        from weir.orchestrate import Orchestration
        from weir.orchestrate.checks import model_names
        from weir.orchestrate.handlers import (
            ingest_step,
            lifecycle_step,
            models_step,
            quality_step,
        )
        from weir.quality import Quality

        quality = Quality(
            self.files, self.store, self.audit, self.sources, self.streams, self.models, self.kpis
        )
        alerts = Alerts(self.files, self.store, self.lake, self.kpis, self.audit)
        orchestrate = Orchestration(
            self.files,
            self.store,
            self.audit,
            {
                "ingest": ingest_step(self.sources),
                "models": models_step(self.models),
                "quality": quality_step(quality.run),
                "lifecycle": lifecycle_step(self.lifecycle),
            },
            lambda: model_names(self.root),
            interrupt=self._interrupt_writers,
        )
        signals.connect(alerts, quality, self.streams, orchestrate)
        return _Operations(quality, alerts, orchestrate)

    def _interrupt_writers(self, thread_id: int) -> int:
        """Stop what a timed-out run's thread runs: its ingestion's and its models' statements."""
        told = self.engine.interrupt_writers(thread_id)
        if self.model_engine is not self.engine:
            told += self.model_engine.interrupt_writers(thread_id)
        return told

    @property
    def root(self) -> Path:
        return self.files.root

    def run(
        self, select: Sequence[str] | None = None, ingest: bool = True, **window: Unpack[Window]
    ) -> tuple[list[BatchResult], RunResult]:
        """Ingest new files (unless ``ingest`` is False), then build the models that are due."""
        batches = self.sources.ingest() if ingest else []
        return batches, self.models.run(select, **window)

    def sql(
        self, query: str, as_of: datetime | str | None = None, snapshot: int | None = None
    ) -> pa.Table:
        """Run a read-only query over the lake's tables (``raw.pos``, ``staging.pos`` …)."""
        return self.access.sql(query, as_of, snapshot)

    def snapshots(self, table: str) -> list[SnapshotInfo]:
        """A lake table's snapshots (``layer.name``), oldest first."""
        layer, _, name = table.partition(".")
        if not name:
            raise NotFoundError(
                f"'{table}' is not a lake table name", "write it as layer.name, e.g. raw.pos"
            )
        return self.lake.snapshots(layer, name)

    def migrate(self, to: str | Path) -> Migration:
        """Copy the project's lake and metadata to the settings of another weir.yml; verify.

        ``to`` is the project's weir.yml as it is to be: another ``catalog_uri``
        (a new, empty database, e.g. PostgreSQL) and another ``lake`` (a new
        location, e.g. ``s3://bucket/prefix``). Every row of the metadata (batches,
        runs, audit, keys, ...) is copied, and every lake table's current state;
        the lake's older snapshots are not (the new lake's history starts at the
        copy). The write lock is held throughout, so nothing changes meanwhile;
        the source is only read. Then replace weir.yml with ``to``.
        """
        from weir.lake.copy import copy_lake
        from weir.metadata.copy import copy_metadata, row_counts
        from weir.project.config import ProjectConfig
        from weir.project.loader import load_model

        target = Path(to)
        settings = load_model(target, ProjectConfig, self.root)
        uri = settings.catalog_uri
        if uri is None:
            raise ProjectError(
                f"{target} names no catalog_uri to move the metadata to",
                "set catalog_uri to the new database's URL, e.g."
                " postgresql+psycopg://host:5432/weir",
            )
        location = settings.lake or str(self.files.state_dir / "lake")
        if "://" not in location:
            location = str((self.root / location).resolve())
        if uri == self.store.url or location == self.files.lake_location:
            raise ProjectError(
                f"{target} keeps the catalog or the lake where they are",
                "give both a new place: another catalog_uri and another lake",
            )
        pending = self.ledger.pending()
        if pending:
            raise ProjectError(
                f"{len(pending)} batch(es) are unfinished ({', '.join(pending[:3])})",
                "run `weir ingest` (it rolls them back first) or wait for them, then migrate",
            )
        storage = storage_for(location, staging=self.files.state_dir / "staging")
        storage.check()
        store = MetadataStore(uri)
        engine = DuckDBEngine(
            self.engine.at_rest, self.files.config.duckdb.memory_limit, self.files.spill_dir
        )
        lake = Lake(uri, storage, engine, self.files.state_dir / "migrate.lock", store.setting_up)
        try:
            with self.lake.writing(wait=60.0):
                copied = copy_metadata(self.store, store)
                tables = copy_lake(self.lake, lake)
            counts = row_counts(store, list(copied))
            metadata = {name: (rows, counts[name]) for name, rows in copied.items()}
        finally:
            lake.close()
            store.dispose()
        shown = sa.make_url(uri).render_as_string(hide_password=True)
        return Migration(shown, storage.describe(), tables, metadata)

    def close(self) -> None:
        made = self.__dict__
        if "_operations" in made:
            self.alerts.close()
        if "access" in made:
            self.access.close()
        self.store.dispose()
        self.lake.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Migration:
    """What ``Project.migrate`` copied, and the counts on both sides."""

    catalog_uri: str  # the new database (its password hidden)
    lake: str
    tables: list[TableCopy]
    metadata: dict[str, tuple[int, int]]  # table → rows in the source, rows in the target

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and all(a == b for a, b in self.metadata.values())


class _Operations:
    def __init__(self, quality: Quality, alerts: Alerts, orchestrate: Orchestration) -> None:
        self.quality = quality
        self.alerts = alerts
        self.orchestrate = orchestrate


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
        source = resources.files("weir.demo").joinpath(*_EXAMPLE_FOLDERS[example].split("/"))
        with resources.as_file(source) as folder:
            shutil.copytree(folder, target, dirs_exist_ok=True)
    (target / ".gitignore").write_text(".weir/\nlanding/\n", encoding="utf-8")
    return target


def _project_name(folder: Path) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in folder.name.lower()).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else f"project_{cleaned}"


def _model_engine(files: ProjectFiles, lake_engine: Engine) -> Engine:
    """The engine ``engine:`` in weir.yml names for building models: the one place it is chosen.

    DuckDB is the lake's own engine; Spark is started (its JVM) on its first session,
    and its library is imported only then.
    """
    config = files.config
    if config.engine == "duckdb":
        return lake_engine
    if importlib.util.find_spec("pyspark") is None:
        raise ProjectError(
            "weir.yml: engine: spark needs PySpark, which is not installed",
            "pip install 'weir[spark]' (and Java 17 or later), or set engine: duckdb",
        )
    from weir.engine.spark_engine import SparkEngine

    spark = config.spark
    return SparkEngine(
        spark.master, spark.shuffle_partitions, spark.driver_memory, spark.conf, lake_engine
    )


def _at_rest_key(wanted: bool, keys: KeyStore, lake: Lake) -> DataKey | None:
    """The data key of the lake's files when ``encryption.at_rest`` is on; a clear error when the
    setting is not the one the lake was made with (its files are all encrypted, or none is)."""
    from weir.engine.atrest import supported

    if wanted and not supported():
        raise ProjectError(
            "encryption.at_rest needs a pyarrow that writes Parquet with a direct key "
            "and a bounded page size",
            "upgrade pyarrow: `pip install -U 'pyarrow>=26'`",
        )
    stored = keys.find(AT_REST_KEY)
    if wanted and stored is None and lake.tables():
        raise ProjectError(
            "weir.yml turns encryption.at_rest on, but this project's lake was made without it "
            "and holds unencrypted tables",
            "encryption at rest is chosen when a project is made: set encryption.at_rest back "
            "to false, or make a new project with it on and ingest the landing files there",
        )
    if not wanted and stored is not None:
        raise ProjectError(
            "this project's lake is encrypted at rest (its key store holds the at-rest data "
            "key), but weir.yml does not turn encryption.at_rest on",
            "set `encryption: {at_rest: true}` in weir.yml again",
        )
    return DataKey(keys.key(AT_REST_KEY, "at_rest")) if wanted else None


def _metadata_database(
    state: Path, project: Sequence[Path], at_rest: bool
) -> tuple[str, DatabaseKey | None]:
    """The URL of the project's own metadata database, and its key file when it is encrypted."""
    from weir.metadata.dbkey import KEY_FILE, DatabaseKey, sqlcipher_url

    path, sealed = state / "catalog.db", DatabaseKey(state / KEY_FILE)
    made = path.exists() and path.stat().st_size > 0
    if not at_rest:
        if sealed.exists():
            raise ProjectError(
                f"this project's metadata database {path} is encrypted at rest, but weir.yml "
                "does not turn encryption.at_rest on",
                "set `encryption: {at_rest: true}` in weir.yml again",
            )
        return sqlite_url(path), None
    if made and not sealed.exists():
        # which it is, is not read from the file: reading a SQLite file in a process that has
        # it open would drop that process's locks on it
        raise ProjectError(
            "weir.yml turns encryption.at_rest on, but this project's metadata database "
            f"{path} was made without it (or its key file {sealed.path} is missing)",
            "encryption at rest is chosen when a project is made: set encryption.at_rest back "
            "to false, or make a new project with it on and ingest the landing files there; "
            f"if the project was made with it, restore {sealed.path.name} from the backup "
            "taken with the database",
        )
    if importlib.util.find_spec("sqlcipher3") is None:
        raise ProjectError(
            "encryption.at_rest needs SQLCipher for the metadata database, and it is not installed",
            "install it with weir: `pip install 'weir[atrest]'`",
        )
    master = find_master_key(os.environ, project, create_default=not made)
    if master is None:
        raise MasterKeyError(
            f"the metadata database {path} is encrypted at rest and no master key was given",
            f"set {MASTER_KEY} (hex or base64) or {MASTER_KEY_FILE} (a file outside the "
            "project) to the project's master key",
        )
    return sqlcipher_url(path, sealed.open(master)), sealed
