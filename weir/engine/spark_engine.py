"""Apache Spark (PySpark, local mode or a cluster's master): an engine for building models.

weir's SQL is DuckDB's dialect; every statement a Spark session is given is
transpiled to Spark SQL first (``weir.engine.dialects``), with its ``$name``
parameters as literals. What Spark sees differs from DuckDB in three ways,
each handled here and nowhere else:

- names: a lake table ``layer.name`` is a temporary view ``weir__layer__name``
  of the session (Spark's temporary views have no schema), over the Parquet
  files of the snapshot the lake planned; ``read_parquet([...])`` (what
  ``scan`` writes) is a view over those files too. Nothing is downloaded: no
  Iceberg runtime, no Maven; the lake commits the files Spark writes.
- tables: ``CREATE TEMP TABLE x AS SELECT`` is a temporary view of the rows
  computed once (a local checkpoint), so audits and the write read one result.
- types: ``columns`` answers in DuckDB's type names, so the SQL weir builds
  from them is the same for every engine.

One SparkSession per process (its SparkContext, the JVM), started on the first
writer; each writer is a new session of it, so views never leak between runs.
PySpark is imported only here, and only when a Spark engine is used.
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa
import sqlglot
import sqlglot.errors
from sqlglot import exp

from weir.engine import errors
from weir.engine.base import Capabilities, Engine, Session, Writers
from weir.engine.dialects import transpile
from weir.engine.sql import DIALECT, PARSE_ERRORS, ident, lit

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

CAPABILITIES = Capabilities(
    name="spark",
    dialect="spark",
    in_process=False,  # the JVM computes; results cross into Python as Arrow
    locked_sessions=False,  # a Spark session cannot be limited to the lake folder
    interrupt=True,  # by job tag
    partitioned_writes=True,
    parses_table_names=True,  # SQLGlot lists them
)

# Spark types the lake (Iceberg) has no match for, and the DuckDB type they are stored as.
_LAKE_TYPES = {"tinyint": "INTEGER", "smallint": "INTEGER", "void": "INTEGER"}

_VIEW_NAME = re.compile(r"`?weir__([a-z0-9_]+?)__([a-z0-9_]+)`?")
_STARTED: SparkSession | None = None
_START_LOCK = threading.Lock()


def _view(schema: str, name: str) -> str:
    """The temporary view standing for the table ``schema.name``."""
    return f"weir__{schema}__{name}"


class SparkSqlSession(Session):
    """One Spark session (its temporary views): statements in weir's SQL, Arrow out."""

    def __init__(self, spark: SparkSession, engine: SparkEngine) -> None:
        self._spark = spark
        self._engine = engine
        self._tag = f"weir-{id(self)}"
        self._rows: list[tuple[Any, ...]] | None = None

    # -- statements ----------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Self:
        tree = self._parse(sql, params)
        if isinstance(tree, exp.Create):
            self._create(tree)
            self._rows = []
            return self
        frame = self._frame_of(tree)
        with self._errors():
            self._rows = [tuple(row) for row in frame.collect()]
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows or [], []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if not self._rows:
            return None
        return self._rows.pop(0)

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        frame = self._frame_of(self._parse(sql, params))
        with self._errors():
            return _nullable(frame.toArrow())

    def arrow_batches(self, sql: str, batch_rows: int) -> pa.RecordBatchReader:
        table = self.arrow(sql)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(batch_rows))

    def columns(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        frame = self._frame_of(self._parse(sql, params))
        return [(field.name, _duckdb_type(field.dataType)) for field in frame.schema.fields]

    def register(self, name: str, table: pa.Table) -> None:
        with self._errors():
            self._spark.createDataFrame(table).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self._spark.catalog.dropTempView(name)

    # -- the lake --------------------------------------------------------------------
    def show_table(
        self,
        view: tuple[str, str],
        files: Sequence[str],
        empty: pa.Schema,
        computed: Mapping[str, str] | None = None,
    ) -> list[str]:
        if computed:
            raise errors.EngineError(
                "the Spark engine cannot open sealed personal data (privacy.encrypt_pii)"
            )
        with self._errors():
            # the lake's schema, not the files' (no job reads their footers): a file
            # written before a column was added reads it as nulls
            shape = self._spark.createDataFrame(empty.empty_table())
            frame = self._read(files, schema=shape.schema) if files else shape
            frame.createOrReplaceTempView(_view(*view))
        return list(frame.columns)

    def write_files(
        self, select: str, folder: str | Path, partition_by: str | None = None
    ) -> list[str]:
        if _remote(str(folder)):
            raise errors.EngineError(
                f"the Spark engine writes the lake's files on this machine, not at {folder}"
            )
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        frame = self._frame_of(self._parse(select, None))
        with self._errors():
            if partition_by is not None:
                from pyspark.sql import functions

                frame = frame.withColumn("_day", functions.col(partition_by).cast("date"))
                # one file per day, as DuckDB writes them
                frame.repartition("_day").write.mode("append").partitionBy("_day").option(
                    "compression", "zstd"
                ).parquet(str(folder))
            else:
                frame.write.mode("append").option("compression", "zstd").parquet(str(folder))
        return sorted(str(p) for p in folder.rglob("*.parquet"))

    def lake_schema(self, select: str) -> pa.Schema:
        frame = self._frame_of(self._parse(self.portable(select), None))
        with self._errors():
            return _nullable(frame.limit(0).toArrow()).schema

    def portable(self, select: str) -> str:
        typed = self._frame_of(self._parse(select, None)).schema.fields
        if not any(f.dataType.simpleString() in _LAKE_TYPES for f in typed):
            return select
        kept = ", ".join(
            f"CAST({ident(f.name)} AS {_LAKE_TYPES[f.dataType.simpleString()]}) AS {ident(f.name)}"
            if f.dataType.simpleString() in _LAKE_TYPES
            else ident(f.name)
            for f in typed
        )
        return f"SELECT {kept} FROM ({select}) AS portable"

    def table_names(self, sql: str) -> list[str]:
        try:
            tree = sqlglot.parse_one(sql, read=DIALECT)
        except PARSE_ERRORS as exc:
            raise errors.ParseError(str(exc).strip().splitlines()[0]) from None
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        names = set()
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name in ctes):
                continue
            name = f"{table.db}.{table.name}" if table.db else table.name
            names.add(f"{name} AS {table.alias}" if table.alias else name)
        return sorted(names)

    def cursor(self) -> SparkSqlSession:
        return SparkSqlSession(self._spark, self._engine)

    def interrupt(self) -> None:
        self._spark.sparkContext.cancelJobsWithTag(self._tag)

    def close(self) -> None:
        self._rows = None

    # -- inside ----------------------------------------------------------------------
    def _parse(self, sql: str, params: Sequence[Any] | dict[str, Any] | None) -> exp.Expr:
        """``sql`` parsed (DuckDB's dialect), parameters as literals, tables as Spark's views."""
        try:
            tree = sqlglot.parse_one(sql, read=DIALECT)
        except PARSE_ERRORS as exc:
            raise errors.ParseError(str(exc).strip().splitlines()[0]) from None
        positional = iter(params) if isinstance(params, Sequence) else iter(())
        named = params if isinstance(params, dict) else {}
        for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
            key = node.name
            if key and not key.isdigit():
                if key not in named:
                    raise errors.BindError(f"no value for the parameter ${key}")
                node.replace(_literal(named[key]))
            else:
                node.replace(_literal(next(positional)))
        for table in list(tree.find_all(exp.Table)):
            if isinstance(table.this, exp.ReadParquet):
                table.replace(exp.to_table(self._scan(table.this)).as_(table.alias or "scan"))
            elif table.db and not table.catalog:
                replaced = exp.to_table(_view(table.db, table.name))
                table.replace(replaced.as_(table.alias or table.name))
        return tree

    def _frame_of(self, tree: exp.Expr) -> DataFrame:
        try:
            text = transpile(tree, CAPABILITIES.dialect)
        except sqlglot.errors.UnsupportedError as exc:
            raise errors.BindError(f"Spark cannot run this: {exc}") from None
        with self._errors():
            return self._spark.sql(text)

    def _create(self, tree: exp.Create) -> None:
        """``CREATE [TEMP] TABLE x AS SELECT``: the rows, computed once; ``CREATE SCHEMA``: nothing."""
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "SCHEMA":
            return
        select = tree.expression
        if kind != "TABLE" or not isinstance(select, exp.Query):
            raise errors.BindError(f"the Spark engine runs no {kind} statement")
        name = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        frame = self._frame_of(select)
        with self._errors():
            frame.localCheckpoint(eager=True).createOrReplaceTempView(name.name)

    def _read(
        self, files: Sequence[str], file_column: str | None = None, schema: Any = None
    ) -> DataFrame:
        filesystem = self._engine.lake_filesystem()
        if filesystem is not None and any(_remote(f) for f in files):
            return self._read_through(filesystem, files, file_column, schema)
        reader = self._spark.read
        reader = (
            reader.schema(schema) if schema is not None else reader.option("mergeSchema", "true")
        )
        frame = reader.parquet(*files)
        if file_column is not None:
            from pyspark.sql import functions

            frame = frame.withColumn(file_column, functions.input_file_name())
        return frame

    def _read_through(
        self, filesystem: Any, files: Sequence[str], file_column: str | None, schema: Any
    ) -> DataFrame:
        """Files on the lake's object store, read by pyarrow through the lake's file system.

        Spark's own S3 connector (hadoop-aws) is not part of PySpark: the driver reads
        the snapshot's files with the file system the lake gives DuckDB, and hands
        Spark the rows as Arrow. The lake's schema (``schema``) is kept: a file
        written before a column was added reads it as nulls.
        """
        import pyarrow.parquet as pq

        tables = []
        for file in files:
            part = pq.read_table(file, filesystem=filesystem)
            if file_column is not None:
                part = part.append_column(
                    file_column, pa.array([file] * part.num_rows, pa.string())
                )
            tables.append(part)
        whole = pa.concat_tables(tables, promote_options="permissive")
        if schema is None:
            return self._spark.createDataFrame(whole)
        frame = self._spark.createDataFrame(whole)
        from pyspark.sql import functions

        return frame.select(
            *[
                (
                    functions.col(f"`{field.name}`")
                    if field.name in whole.column_names
                    else functions.lit(None)
                )
                .cast(field.dataType)
                .alias(field.name)
                for field in schema.fields
            ]
        )

    def _scan(self, call: exp.ReadParquet) -> str:
        """A view over the files of a ``read_parquet([...], ...)`` call; its name."""
        files: list[str] = []
        file_column = None
        for argument in call.expressions:
            if isinstance(argument, exp.Array):
                files.extend(str(item.this) for item in argument.expressions)
            elif isinstance(argument, exp.Literal):
                files.append(str(argument.this))
            elif isinstance(argument, exp.EQ) and argument.this.name == "filename":
                file_column = str(argument.expression.this)
        digest = hashlib.sha256("\n".join([*files, file_column or ""]).encode()).hexdigest()
        name = f"weir_scan_{digest[:16]}"
        with self._errors():
            self._read(files, file_column).createOrReplaceTempView(name)
        return name

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Spark's exceptions as weir's; this session's jobs tagged, so they can be stopped."""
        context = self._spark.sparkContext
        context.addJobTag(self._tag)
        try:
            yield
        except Exception as exc:
            translated = _translated(exc)
            if translated is None:
                raise
            raise translated from exc
        finally:
            context.removeJobTag(self._tag)


def _literal(value: Any) -> exp.Expr:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _nullable(table: pa.Table) -> pa.Table:
    """Every column nullable, as DuckDB's are: the lake's columns are optional."""
    schema = pa.schema([field.with_nullable(True) for field in table.schema])
    return table.cast(schema) if schema != table.schema else table


def _duckdb_type(kind: Any) -> str:
    """A Spark type by its DuckDB name (weir's SQL is written in DuckDB's dialect)."""
    simple = str(kind.simpleString())
    names = {
        "string": "VARCHAR",
        "bigint": "BIGINT",
        "int": "INTEGER",
        "smallint": "SMALLINT",
        "tinyint": "TINYINT",
        "double": "DOUBLE",
        "float": "FLOAT",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "timestamp_ntz": "TIMESTAMP",
        "binary": "BLOB",
        "void": "INTEGER",
    }
    if simple in names:
        return names[simple]
    if simple.startswith("decimal"):
        return simple.upper()
    return simple.upper()


# Spark's exceptions (by class name, so this module needs no PySpark at import) and weir's
_ERRORS: tuple[tuple[str, type[errors.EngineError]], ...] = (
    ("ParseException", errors.ParseError),
    ("AnalysisException", errors.BindError),
    ("NumberFormatException", errors.ConversionError),
    ("ArithmeticException", errors.InvalidInput),
    ("DateTimeException", errors.ConversionError),
    ("IllegalArgumentException", errors.InvalidInput),
)


def _translated(error: Exception) -> errors.EngineError | None:
    """A PySpark error as weir's; None for any other exception."""
    names = [kind.__name__ for kind in type(error).__mro__]
    if not any(name in ("PySparkException", "Py4JError") for name in names):
        return None
    text = str(error).strip()
    first = next((line for line in text.splitlines() if line.strip()), type(error).__name__)
    if "JVM stacktrace" in first or not first:
        first = type(error).__name__
    # the view names weir gave the lake's tables, back as people wrote them
    first = _VIEW_NAME.sub(lambda m: f"{m.group(1)}.{m.group(2)}", first)
    if "cancelled" in text.lower() and "job" in text.lower():
        return errors.Interrupted(first)
    ours = next((o for name, o in _ERRORS if name in names), errors.EngineError)
    return ours(first)


class SparkEngine(Engine):
    """Spark, started in this process's JVM on the first writer session."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        master: str = "local[*]",
        shuffle_partitions: int = 4,
        driver_memory: str = "2g",
        conf: Mapping[str, str] | None = None,
        lake_engine: Engine | None = None,
    ) -> None:
        # the engine the lake was opened with: its file system reaches the lake's object store
        self.lake_engine = lake_engine
        self.master = master
        self.shuffle_partitions = shuffle_partitions
        self.driver_memory = driver_memory
        self.conf = dict(conf or {})
        self._writers: Writers[SparkSqlSession] = Writers()

    def lake_filesystem(self) -> Any | None:
        """The fsspec file system of the lake's object store (None: a local folder)."""
        if self.filesystem is not None:
            return self.filesystem
        return self.lake_engine.filesystem if self.lake_engine is not None else None

    def spark(self) -> SparkSession:
        """The process's SparkSession, started on first use (the JVM takes a few seconds)."""
        global _STARTED
        with _START_LOCK:
            if _STARTED is None:
                _STARTED = self._start()
            return _STARTED

    def _start(self) -> SparkSession:
        try:
            from pyspark.sql import SparkSession
        except ImportError:  # pragma: no cover - the extra is part of dev
            raise errors.EngineError(
                "engine: spark needs PySpark: pip install 'weir[spark]'"
            ) from None
        settings = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
            "spark.default.parallelism": str(self.shuffle_partitions),
            "spark.driver.memory": self.driver_memory,
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
            # a snapshot's files are listed by path: stat them here, not in a Spark job
            "spark.sql.sources.parallelPartitionDiscovery.threshold": "4096",
            # no _SUCCESS marker and no .crc files beside the data files the lake commits
            "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
            "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
            "spark.hadoop.fs.file.impl.disable.cache": "true",
            **self.conf,
        }
        # PySpark warns of a pandas it has not tested on converting Arrow; weir gives it Arrow
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        builder = SparkSession.builder.master(self.master).appName("weir")
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            raise errors.EngineError(
                f"Spark did not start ({str(exc).strip().splitlines()[0]}): it needs Java 17"
                " or later on PATH (or JAVA_HOME)"
            ) from exc
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    def writer(self, threads: int | None = None) -> SparkSqlSession:
        if self.at_rest is not None:
            raise errors.EngineError(
                "the Spark engine cannot read or write the lake's encrypted data files"
            )
        session = SparkSqlSession(self.spark().newSession(), self)
        self._writers.add(session)
        return session

    def interrupt_writers(self, thread_id: int) -> int:
        sessions = self._writers.of(thread_id)
        for session in sessions:
            session.interrupt()
        return len(sessions)

    def reader(
        self,
        allowed: Sequence[str | Path],
        memory_limit: str = "4GB",
        threads: int | None = None,
        variables: dict[str, str] | None = None,
    ) -> Session:
        raise errors.EngineError(
            "a Spark session cannot be locked to the lake folder: people's SQL runs on DuckDB"
        )

    def parser(self) -> Session:
        raise errors.EngineError("people's SQL is checked on DuckDB, not on Spark")

    def scan(self, files: Sequence[str], file_column: str | None = None) -> str:
        # weir's SQL (DuckDB's read_parquet): a session reads the files it lists
        listed = ", ".join(lit(f) for f in files)
        named = f", filename = {lit(file_column)}" if file_column else ""
        return f"read_parquet([{listed}]{named})"


def _remote(location: str) -> bool:
    """Whether ``location`` is on an object store (``s3://…``), not a path of this machine."""
    return "://" in location and not location.startswith("file://")
