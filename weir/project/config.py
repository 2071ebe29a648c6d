"""The shape of a project's files: ``weir.yml`` and ``sources/*.yml``.

Every model forbids unknown fields so a typo fails loudly, with the file, the
field and a hint (see ``loader.py``).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from weir.project.access import RoleConfig, UserConfig, check_users
from weir.project.alerts import AlertsConfig
from weir.project.base import FieldProblem, Name, Strict
from weir.project.collector import CollectorConfig
from weir.project.consumers import ConsumerConfig
from weir.project.database import DatabaseConfig
from weir.project.extract import RestOptions, SheetOptions
from weir.project.privacy import PrivacyConfig
from weir.project.quality import FreshnessConfig, QualityConfig
from weir.project.retention import RetentionConfig
from weir.project.schedules import ScheduleList

ColumnType = Literal["string", "int", "float", "bool", "epoch", "date"]
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

Classification = Literal["pii", "pci"]
SourceFormat = Literal["csv", "jsonl", "json", "xml", "parquet", "xlsx", "ods", "rest", "database"]
SOURCE_FORMATS: tuple[str, ...] = get_args(SourceFormat)
SourceKind = Literal["events", "entity"]
Team = Literal["sales", "marketing", "operations", "support", "finance", "data"]


class ColumnConfig(Strict):
    """One field of a source's contract."""

    name: Name
    type: ColumnType
    nullable: bool = True
    description: str = ""
    classification: Classification | None = None
    min: float | None = None
    max: float | None = None
    enum: list[str] | None = None
    regex: str | None = None
    not_future: bool = Field(
        default=False,
        description="epoch/date only: reject values later than the ingest time plus one hour",
    )

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _checks_fit_type(self) -> ColumnConfig:
        numeric = self.type in ("int", "float", "epoch")
        if (self.min is not None or self.max is not None) and not numeric:
            field = "min" if self.min is not None else "max"
            raise FieldProblem(
                field, f"min/max apply to int, float and epoch columns, not {self.type}"
            )
        if self.not_future and self.type not in ("epoch", "date"):
            raise FieldProblem("not_future", "not_future applies to epoch and date columns only")
        if self.regex is not None and self.type != "string":
            raise FieldProblem("regex", "regex applies to string columns only")
        return self


class RuleConfig(Strict):
    """A check across columns, as a SQL boolean expression over the typed record."""

    name: Name
    check: str = Field(description="SQL expression that is true for a valid record")
    message: str = ""


class CsvOptions(Strict):
    delimiter: str = ","
    quote: str = '"'
    encoding: Literal["utf-8", "latin-1", "utf-16"] = "utf-8"


class XmlOptions(Strict):
    record_tag: str = Field(description="the element that holds one record, e.g. 'order'")


class SourceConfig(Strict):
    """A source: where its files land, how to read them, and its contract."""

    name: Name
    description: str = ""
    owner: Team = "data"
    kind: SourceKind = Field(
        default="events",
        description=(
            "events: each record happens once, de-duplicated by its key; "
            "entity: daily full extracts whose file name carries the extract date"
        ),
    )
    format: SourceFormat
    location: str = Field(
        default="",
        description="glob of the source's files, relative to the project (not for a database)",
    )
    schedule: str = Field(default="daily", description="a hint: hourly, daily, or a cron line")
    key: list[Name] = Field(min_length=1)
    time_column: Name | None = None
    partition_by_day: bool = Field(
        default=False, description="partition staging by the day of time_column"
    )
    csv: CsvOptions = CsvOptions()
    xml: XmlOptions | None = None
    rest: RestOptions | None = Field(
        default=None, description="format rest: the API, its auth, pages and cursor"
    )
    sheet: SheetOptions = Field(
        default=SheetOptions(), description="format xlsx/ods: which sheets, the header row"
    )
    database: DatabaseConfig | None = Field(
        default=None, description="format database: the URL, the table or query, the cursor"
    )
    columns: list[ColumnConfig] = Field(min_length=1)
    rules: list[RuleConfig] = Field(default_factory=list)
    freshness: FreshnessConfig | None = Field(
        default=None,
        description="how old the newest event and batch may get: warn_after, error_after",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FieldProblem("columns", f"columns declared twice: {', '.join(dupes)}")
        for field, wanted in (("key", self.key), ("time_column", [self.time_column])):
            for name in wanted:
                if name is not None and name not in names:
                    raise FieldProblem(
                        field,
                        f"names '{name}', which is not a column",
                        f"use one of: {', '.join(names)}",
                    )
        for name in self.key:
            column = self.column(name)
            if column.nullable and column.type != "string":
                # a content hash stands in for a missing key, and a hash is text
                raise FieldProblem(
                    "key",
                    f"key column '{name}' may be null, and only a string key can be filled by a content hash",
                    f"declare '{name}' with nullable: false (or make it a string)",
                )
        if self.partition_by_day and self.time_column is None:
            raise FieldProblem("partition_by_day", "partition_by_day needs a time_column")
        if self.format == "xml" and self.xml is None:
            raise FieldProblem("format", "an xml source needs xml: {record_tag: ...}")
        if self.format == "rest":
            if self.rest is None:
                raise FieldProblem("format", "a rest source needs rest: {url: ...}")
            if not self.location.endswith("*.jsonl"):
                raise FieldProblem(
                    "location",
                    "a rest source lands its pages as JSON lines: the location must end in *.jsonl",
                    f"e.g. location: landing/{self.name}/*.jsonl",
                )
            if self.rest.incremental and self.rest.incremental.field not in names:
                raise FieldProblem(
                    "rest",
                    f"incremental.field '{self.rest.incremental.field}' is not a column",
                    f"use one of: {', '.join(names)}",
                )
        self._check_database(names)
        return self

    def _check_database(self, names: list[str]) -> None:
        if self.format != "database":
            if self.database is not None:
                raise FieldProblem("database", "database: applies to format database only")
            if not self.location:
                raise FieldProblem("location", "a file source needs a location (a glob)")
            return
        if self.database is None:
            raise FieldProblem(
                "format",
                "a database source needs database: {url: ..., table: ...}",
                "see docs/sources.md, 'Database tables'",
            )
        if self.location:
            raise FieldProblem("location", "a database source has no location: it reads its table")
        cursor = self.database.cursor
        if cursor is not None and cursor not in names:
            raise FieldProblem(
                "database", f"cursor '{cursor}' is not a column", f"use one of: {', '.join(names)}"
            )
        deletes = self.database.deletes
        if deletes is not None:
            flag = next((c for c in self.columns if c.name == deletes.flag), None)
            if flag is None or flag.type != "bool" or flag.name in self.key:
                raise FieldProblem(
                    "database",
                    f"deletes.flag '{deletes.flag}' must name a bool column of the contract, "
                    "not in the key",
                    f"add - {{name: {deletes.flag}, type: bool}} to columns",
                )
            if cursor is None or self.column(cursor).type != "epoch" or cursor not in self.key:
                raise FieldProblem(
                    "database",
                    "deletes needs a time cursor (an epoch column) that is part of the key, "
                    "so that a tombstone is a new version of its row",
                    f"key: [{', '.join(k for k in self.key if k != cursor)}, {cursor}]",
                )
            cards = [k for k in self.key if self.column(k).classification == "pci"]
            if cards:
                # the key comparison reads the table's keys as they are, before tokenisation
                raise FieldProblem(
                    "key",
                    f"key column '{cards[0]}' is card data (pci): the periodic key comparison "
                    "of deletes would read card numbers as they are",
                    "key the table by an id that is not a card number, or leave deletes out",
                )

    def column(self, name: str) -> ColumnConfig:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class EncryptionConfig(Strict):
    """``encryption:``: what weir encrypts on disk with the project's keys."""

    at_rest: bool = Field(
        default=False,
        description="encrypt the lake's data files and archives (Parquet modular encryption, "
        "AES-GCM) with a data key from the key store",
    )


EngineName = Literal["duckdb", "spark"]


class DuckDBConfig(Strict):
    """``duckdb:``: the bounds of the DuckDB sessions that ingest, build models and keep the lake."""

    memory_limit: str = Field(
        default="50%",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(%|[kKmMgGtT](i?[bB])?)$",
        description="the memory one session may use (4GB, 512MB, or a share of this machine's "
        "memory: 50%); what does not fit is spilled to disk",
    )
    spill_dir: str | None = Field(
        default=None,
        description="where a session spills what does not fit in memory_limit, relative to the "
        "project; default: spill/ in state_dir. With encryption.at_rest nothing is spilled "
        "(DuckDB's spill files are not encrypted): a session that needs more fails instead",
    )


class SparkConfig(Strict):
    """``spark:``: how the Spark engine (``engine: spark``) starts."""

    master: str = Field(
        default="local[*]",
        description="the Spark master: local[*] (every core of this machine), local[N], "
        "or a cluster's (spark://host:7077) that reads the lake's folder at the same path",
    )
    shuffle_partitions: int = Field(
        default=4, ge=1, le=100_000, description="spark.sql.shuffle.partitions"
    )
    driver_memory: str = Field(
        default="2g", pattern=r"^[0-9]+[kmgt]$", description="spark.driver.memory, e.g. 4g"
    )
    conf: dict[str, str] = Field(
        default={}, description="other Spark settings, by their spark.* names"
    )


class ProjectConfig(Strict):
    """``weir.yml``: the project's own settings."""

    name: Name
    description: str = ""
    timezone: str = "UTC"
    state_dir: str = Field(default=".weir", description="where the lake and metadata live")
    catalog_uri: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the catalog and metadata database; "
        "default: sqlite in state_dir",
    )
    lake: str | None = Field(
        default=None,
        description="where the lake's files live: s3://bucket/prefix on an S3-compatible store "
        "(endpoint, region and credentials from the environment: AWS_ENDPOINT_URL, ...), "
        "or a folder relative to the project; default: lake/ in state_dir",
    )
    roles: dict[Name, RoleConfig] = Field(
        default={}, description="who may see what: grants, column masks, row filters"
    )
    users: dict[Name, UserConfig] = Field(default={}, description="people and services, by name")
    collector: CollectorConfig = CollectorConfig()
    consumers: list[ConsumerConfig] = Field(
        default=[], description="stream consumers `weir serve` runs (Kafka, MQTT)"
    )
    quality: QualityConfig = Field(
        default=QualityConfig(), description="how `weir quality run` judges daily series"
    )
    alerts: AlertsConfig = Field(
        default=AlertsConfig(), description="alert channels and rules: who hears what, when"
    )
    schedules: ScheduleList = Field(
        default=[], description="what the project runs on its own (`weir worker`, `weir serve`)"
    )
    privacy: PrivacyConfig = Field(
        default=PrivacyConfig(), description="data subjects: who a person is in each source"
    )
    retention: RetentionConfig = Field(
        default=RetentionConfig(),
        description="how long each layer keeps rows, then archive or destroy (`weir lifecycle`)",
    )
    encryption: EncryptionConfig = Field(
        default=EncryptionConfig(), description="encryption at rest (`at_rest: true`)"
    )
    engine: EngineName = Field(
        default="duckdb",
        description="the engine that builds the models: duckdb (in process) or spark "
        "(PySpark; `pip install 'weir[spark]'`); ingestion and people's SQL stay on DuckDB",
    )
    spark: SparkConfig = Field(
        default=SparkConfig(), description="how the Spark engine starts (`engine: spark`)"
    )
    duckdb: DuckDBConfig = Field(
        default=DuckDBConfig(),
        description="the memory bound of weir's DuckDB sessions and where they spill",
    )

    @model_validator(mode="after")
    def _spark_reads_what_the_lake_holds(self) -> ProjectConfig:
        if self.engine != "spark":
            return self
        if self.encryption.at_rest:
            raise FieldProblem(
                "engine",
                "engine: spark cannot read or write the lake's encrypted data files "
                "(encryption.at_rest)",
                "build this project's models with engine: duckdb",
            )
        if self.privacy.encrypt_pii:
            raise FieldProblem(
                "engine",
                "engine: spark cannot seal or open personal data (privacy.encrypt_pii)",
                "build this project's models with engine: duckdb, or set encrypt_pii: false",
            )
        return self

    @field_validator("lake")
    @classmethod
    def _lake_location(cls, value: str | None) -> str | None:
        if value is None or "://" not in value:
            return value
        scheme, rest = value.split("://", 1)
        if scheme != "s3":
            raise ValueError(
                f"{scheme}:// is not a lake location weir can use: write s3://bucket/prefix"
                " (any S3-compatible store) or a folder path"
            )
        bucket = rest.split("/", 1)[0]
        if "@" in bucket or ":" in bucket:
            raise ValueError(
                "credentials never go in weir.yml: write s3://bucket/prefix and set"
                " AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials) instead"
            )
        if not bucket:
            raise ValueError("names no bucket: write s3://bucket/prefix")
        return value.rstrip("/")

    @field_validator("users")
    @classmethod
    def _users_hold_defined_roles(
        cls, users: dict[str, UserConfig], info: ValidationInfo
    ) -> dict[str, UserConfig]:
        check_users(info.data.get("roles", {}), users)
        return users
