"""Database tables as a source: extract a table or a query to a landed file, then one batch.

An extract reads the source's table (or query) through SQLAlchemy with a
server-side cursor, ``chunk_size`` rows at a time, and writes the rows as JSON
lines of text values under ``<state_dir>/extracts/<source>/`` — the file the
normal batch path then reads (``load_extract``), checks and commits (raw then
holds every record as read, and the file goes). Memory holds one chunk, never
the table.

Each chunk is protected before it is written: card (``pci``) columns become
their token plus ``<column>_last4`` and card numbers in free text are redacted
(``PaymentTokenizer.protect_records``), so no card number reaches the disk.
When the project is encrypted at rest, each chunk is sealed with the lake's
data key (AES-256-GCM) as one length-prefixed frame of a ``.sealed`` file, so
the extract holds no value in clear either.

An incremental extract reads the rows whose cursor column is after the cursor
stored with the source's last committed batch (less the lookback, for
transactions that committed late). The new cursor is recorded in the same
metadata transaction that commits the batch (``Ledger.positions``), so a crash
or a rerun neither skips nor repeats a row: an extract that did not commit
leaves the stored cursor where it was, and its file is removed by the next
one. Rows read again within the lookback are duplicates by key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from weir.engine import DataKey, Session, ident
from weir.errors import NotFoundError, WeirError
from weir.ingest.ledger import FileEntry, Ledger
from weir.ingest.pci import PaymentTokenizer
from weir.ingest.readers import TABLE, insert_lines, records_columns
from weir.ingest.tombstones import tombstones
from weir.lake import Lake
from weir.project import ColumnConfig, ProjectFiles, SourceConfig
from weir.project.database import PLACEHOLDER, DatabaseConfig, expand_url
from weir.project.durations import parse_duration

POSITION_PREFIX = "database:"
_NAIVE_EPOCH = datetime(1970, 1, 1)  # a time without a zone is read as UTC
EXTRACTS = "extracts"
CLEAR, SEALED = ".jsonl", ".sealed"  # an extract's file: JSON lines, or sealed frames of them
_PURPOSE = b"weir database extract"
_FRAME = 4  # bytes of a sealed frame's length, big-endian


@dataclass(frozen=True)
class Cursor:
    """Where an incremental extract stopped: the newest cursor value read, and its kind."""

    value: str
    kind: str  # datetime | date | int | float | decimal | str

    def text(self) -> str:
        return json.dumps({"value": self.value, "kind": self.kind}, sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        stored = json.loads(text)
        return cls(str(stored["value"]), str(stored["kind"]))

    @classmethod
    def of(cls, value: Any) -> Cursor:
        if isinstance(value, datetime):
            return cls(value.isoformat(), "datetime")
        if isinstance(value, date):
            return cls(value.isoformat(), "date")
        if isinstance(value, bool):
            return cls(str(int(value)), "int")
        if isinstance(value, int):
            return cls(str(value), "int")
        if isinstance(value, float):
            return cls(repr(value), "float")
        if isinstance(value, Decimal):
            return cls(str(value), "decimal")
        return cls(str(value), "str")

    def since(self, lookback: str | int | None, source: str) -> Any:
        """The value rows must be after: the cursor, less the lookback."""
        where = f"sources/{source}.yml: database.lookback"
        if self.kind in ("datetime", "date", "str"):
            moment: datetime | date | None = None
            if self.kind == "date":
                moment = date.fromisoformat(self.value)
            else:
                try:
                    moment = datetime.fromisoformat(self.value)
                except ValueError:
                    moment = None
            if lookback is None or lookback == 0:
                return moment if moment is not None else self.value
            if isinstance(lookback, int) or moment is None:
                raise WeirError(
                    f"{where}: the cursor holds times, and a lookback of {lookback!r} is not a duration",
                    "write the lookback as a duration: lookback: 15m",
                )
            earlier = moment - parse_duration(lookback)
            # a text cursor (SQLite's times) compares as text: give it back in its own shape
            return earlier if self.kind != "str" else _like(self.value, earlier)
        number: int | float | Decimal = (
            int(self.value)
            if self.kind == "int"
            else Decimal(self.value)
            if self.kind == "decimal"
            else float(self.value)
        )
        if lookback is None:
            return number
        if not isinstance(lookback, int):
            raise WeirError(
                f"{where}: the cursor holds numbers, and a lookback of '{lookback}' is a duration",
                "write the lookback as a number of cursor steps: lookback: 100",
            )
        return number - lookback


def _like(shape: str, moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.isoformat(sep=" " if " " in shape else "T")
    return moment.isoformat()


# -- connecting -------------------------------------------------------------------------
def resolve_url(source: SourceConfig) -> str:
    """The source's URL with each ``${VAR}`` replaced from the environment."""
    where = f"source {source.name}: ", f"sources/{source.name}.yml names it in database.url"
    return expand_url(_config(source).url, *where)


def unset_address(source: SourceConfig) -> list[str]:
    """The environment variables a database or REST source's URL names that are not set.

    Such a source is not connected where weir runs: ingesting every source
    skips it (and says so); ingesting it by name stops with the variable to set.
    """
    if source.database is not None:
        url = source.database.url
    elif source.rest is not None:
        url = source.rest.url
    else:
        return []
    return [m[1] for m in PLACEHOLDER.finditer(url) if os.environ.get(m[1]) is None]


def connect(source: SourceConfig) -> sa.Engine:
    """An engine for the source's database (nothing is connected yet)."""
    return engine_for(resolve_url(source), f"source {source.name}: ")


def engine_for(url: str, prefix: str = "") -> sa.Engine:
    """An engine for ``url`` (secrets already filled in); a bad URL or driver is explained."""
    try:
        return sa.create_engine(url)
    except Exception as exc:  # a bad URL or a driver that is not installed
        raise WeirError(
            f"{prefix}cannot use the database URL ({safe_error(exc, url)})",
            "check database.url (e.g. postgresql+psycopg://user@host/db, "
            "mysql+pymysql://user@host/db, sqlite:///shop.db) and install the driver: "
            "pip install 'weir[databases]'",
        ) from None


def shown_url(url: str) -> str:
    """``url`` as it may be shown: without its password."""
    parsed = _parsed(url)
    return parsed.render_as_string(hide_password=True) if parsed is not None else "(a URL)"


def safe_error(exc: BaseException, url: str) -> str:
    """An error's text without the URL's password."""
    text = " ".join(str(exc).split()).split(" (Background on this error")[0]
    parsed = _parsed(url)
    if parsed is not None and parsed.password:
        text = text.replace(str(parsed.password), "***")
    return f"{type(exc).__name__}: {text[:300]}"


def _parsed(url: str) -> sa.URL | None:
    try:
        return sa.make_url(url)
    except Exception:
        return None


def _config(source: SourceConfig) -> DatabaseConfig:
    if source.database is None:
        raise WeirError(f"source {source.name} is not a database source", "give a database source")
    return source.database


# -- reading ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """Rows read from the server at once, as the contract's text values."""

    records: list[dict[str, str | None]]
    last: Any  # the last row's cursor value (incremental), else None


def read_chunks(
    source: SourceConfig, since: Any = None, limit: int | None = None
) -> Iterator[Chunk]:
    """The source's rows (after ``since`` for an incremental extract), ``chunk_size`` at a time.

    A server-side cursor streams the rows; each chunk is turned into the
    contract's text values before the next is fetched.
    """
    config = _config(source)
    engine = connect(source)
    url = resolve_url(source)
    try:
        with engine.connect() as conn:
            query = _select(conn, source, since, limit)
            streamed = conn.execution_options(stream_results=True, max_row_buffer=config.chunk_size)
            result = streamed.execute(query)
            names = list(result.keys())
            _check_columns(source, names)
            columns = [source.column(name) for name in names]
            cursor_at = names.index(config.cursor) if config.cursor else None
            flag = config.deletes.flag if config.deletes else None
            for rows in result.partitions(config.chunk_size):
                records = [
                    {c.name: as_text(v, c) for c, v in zip(columns, row, strict=True)}
                    for row in rows
                ]
                if flag is not None:
                    for record in records:
                        record[flag] = "false"  # weir's column: true only for a tombstone
                last = rows[-1][cursor_at] if cursor_at is not None and rows else None
                yield Chunk(records, last)
    except sa.exc.SQLAlchemyError as exc:
        raise WeirError(
            f"source {source.name}: reading {_what(config)} failed ({safe_error(exc, url)})",
            "check that the server is up, the table or query exists and the user may read it",
        ) from None
    finally:
        engine.dispose()


def read_keys(source: SourceConfig, keys: Sequence[str]) -> Iterator[list[dict[str, str | None]]]:
    """Every row's ``keys`` (as the contract's text), ``chunk_size`` rows at a time."""
    config = _config(source)
    engine = connect(source)
    url = resolve_url(source)
    columns = [source.column(k) for k in keys]
    try:
        with engine.connect() as conn:
            inner = _select(conn, source, None, None, unordered=True).subquery("weir_rows")
            query = sa.select(*[inner.c[k] for k in keys])
            streamed = conn.execution_options(stream_results=True, max_row_buffer=config.chunk_size)
            for rows in streamed.execute(query).partitions(config.chunk_size):
                yield [
                    {c.name: as_text(v, c) for c, v in zip(columns, row, strict=True)}
                    for row in rows
                ]
    except sa.exc.SQLAlchemyError as exc:
        raise WeirError(
            f"source {source.name}: reading the keys of {_what(config)} failed "
            f"({safe_error(exc, url)})",
            "check that the server is up and the user may read the table",
        ) from None
    finally:
        engine.dispose()


def _what(config: DatabaseConfig) -> str:
    return f"table {config.table}" if config.table else "its query"


def _select(
    conn: sa.Connection,
    source: SourceConfig,
    since: Any,
    limit: int | None,
    unordered: bool = False,
) -> Any:
    config = _config(source)
    if config.table is not None:
        schema, _, name = config.table.rpartition(".")
        try:
            table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
        except sa.exc.NoSuchTableError:
            known = sa.inspect(conn).get_table_names(schema=schema or None)
            raise NotFoundError(
                f"source {source.name}: the database has no table {config.table}",
                f"check database.table in sources/{source.name}.yml"
                + (f"; its tables: {', '.join(sorted(known)[:10])}" if known else ""),
                kind="table",
                name=config.table,
            ) from None
        missing = [n for n in read_columns(source) if n not in table.c]
        if missing:
            raise WeirError(
                f"source {source.name}: table {config.table} has no column "
                f"{', '.join(missing)} of the contract",
                f"its columns: {', '.join(table.c.keys())}; fix columns in sources/{source.name}.yml",
            )
        selected: Any = sa.select(*[table.c[n] for n in read_columns(source)])
        cursor: Any = table.c[config.cursor] if config.cursor else None
    else:
        assert config.query is not None
        inner = sa.text(config.query).columns().subquery("weir_query")
        selected = sa.select(sa.literal_column("*")).select_from(inner)
        cursor = sa.column(config.cursor) if config.cursor else None
    if cursor is not None and not unordered:
        if since is not None:
            selected = selected.where(cursor > sa.bindparam("weir_since", since))
        selected = selected.where(cursor.is_not(None)).order_by(cursor)
    if limit is not None:
        selected = selected.limit(limit)
    return selected


def read_columns(source: SourceConfig) -> list[str]:
    """The contract's columns read from the database (a deletion flag is weir's own)."""
    config = _config(source)
    flag = config.deletes.flag if config.deletes else None
    return [n for n in source.column_names if n != flag]


def _check_columns(source: SourceConfig, names: Sequence[str]) -> None:
    expected = read_columns(source)
    unknown = [n for n in names if n not in expected]
    missing = [n for n in expected if n not in names]
    if unknown or missing:
        parts = ([f"returns {', '.join(unknown)}, not in the contract"] if unknown else []) + (
            [f"lacks {', '.join(missing)}"] if missing else []
        )
        raise WeirError(
            f"source {source.name}: the query {' and '.join(parts)}",
            f"make the query return exactly the contract's columns "
            f"({', '.join(expected)}), or fix columns in sources/{source.name}.yml",
        )


def as_text(value: Any, column: ColumnConfig) -> str | None:
    """A database value as the text the contract checks (an epoch's seconds, a date's ISO)."""
    kind = type(value)  # the common cases first: this runs once per value read
    if kind is str and column.type != "epoch":
        return str(value)
    if kind is int:
        return str(value)
    if value is None:
        return None
    if kind is datetime and value.tzinfo is None and column.type == "epoch":
        return repr((value - _NAIVE_EPOCH).total_seconds())
    if column.type == "epoch":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return str(value)
        if isinstance(value, datetime):
            moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            return repr(moment.timestamp())
        if isinstance(value, date):
            return repr(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    if column.type == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


# -- landing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Landed:
    """An extract written to a file: the file (None when no row was read) and the new cursor."""

    file: FileEntry | None
    positions: dict[str, str]


def position_key(source: SourceConfig) -> str:
    return f"{POSITION_PREFIX}{source.name}"


def stored_cursor(ledger: Ledger, source: SourceConfig) -> Cursor | None:
    """The cursor committed with the source's last batch, if any."""
    key = position_key(source)
    text = ledger.positions(key).get(key)
    return Cursor.parse(text) if text else None


def extract_folder(files: ProjectFiles, source: SourceConfig) -> Path:
    return files.state_dir / EXTRACTS / source.name


def land(
    files: ProjectFiles,
    source: SourceConfig,
    ledger: Ledger,
    lake: Lake,
    tokenizer: PaymentTokenizer,
) -> Landed:
    """Extract the source's new rows to a file under the state folder, card data protected.

    Files an earlier extract left behind are removed first; the cursor is only returned, to be committed with the batch.
    When the source's key comparison is due, the tombstones of the rows gone
    from the table follow the rows (``tombstones``), and the check's time is
    returned with the cursor. With the lake's data key (encryption at rest),
    every chunk is sealed before it is written.
    """
    config = _config(source)
    folder = extract_folder(files, source)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder)
    since = since_for(source, ledger)
    now = _now()
    key = lake.engine.at_rest
    stem = re.sub(r"[^A-Za-z0-9_.]", "_", config.table or "query")
    suffix = CLEAR if key is None else SEALED
    path = folder / f"{stem}_{now:%Y-%m-%dT%H%M%S}Z_{secrets.token_hex(3)}{suffix}"
    cards = [c.name for c in source.columns if c.classification == "pci"]
    free_text = [c.name for c in source.columns if c.type == "string" and c.classification == "pii"]
    digest = hashlib.sha256()
    count, last = 0, None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:

        def write(records: list[dict[str, str | None]]) -> None:
            tokenizer.protect_records(records, cards, free_text)
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            encoded = data.encode("utf-8")
            if key is not None:
                sealed = key.seal(encoded, _PURPOSE)
                encoded = len(sealed).to_bytes(_FRAME, "big") + sealed
            handle.write(encoded)
            digest.update(encoded)

        for chunk in read_chunks(source, since):
            write(chunk.records)
            count += len(chunk.records)
            if chunk.last is not None:
                last = chunk.last
            if os.environ.get("WEIR_CRASH_AT") == "extract":  # a test hook: die mid-extract
                handle.flush()
                os._exit(137)
        checked = _deletions_due(source, ledger, now)
        if checked:
            gone: list[dict[str, str | None]] = []
            for tombstone in tombstones(lake, source, folder, now, read_keys):
                gone.append(tombstone)
                if len(gone) == config.chunk_size:
                    write(gone)
                    count, gone = count + len(gone), []
            if gone:
                write(gone)
                count += len(gone)
        handle.flush()
        os.fsync(handle.fileno())
    positions = {position_key(source): Cursor.of(last).text()} if last is not None else {}
    if checked:
        positions[deletes_key(source)] = repr(now.timestamp())
    if count == 0:
        path.unlink()
        return Landed(None, {})
    stat = path.stat()
    shown = path.relative_to(files.root) if path.is_relative_to(files.root) else path
    entry = FileEntry(str(shown), digest.hexdigest(), stat.st_size, stat.st_mtime_ns, count)
    return Landed(entry, positions)


def read_extract(
    path: Path, key: DataKey | None, chunk_size: int = 10_000
) -> Iterator[list[dict[str, str | None]]]:
    """An extract's records, a chunk at a time (unsealed with ``key`` when it is sealed)."""
    if path.suffix == SEALED:
        if key is None:
            raise WeirError(
                f"the extract {path.name} is sealed and the project has no data key",
                "turn `encryption: {at_rest: true}` back on, or remove the extract and ingest again",
            )
        with path.open("rb") as handle:
            while head := handle.read(_FRAME):
                sealed = handle.read(int.from_bytes(head, "big"))
                text = key.unseal(sealed, _PURPOSE).decode("utf-8")
                yield [json.loads(line) for line in text.splitlines()]
        return
    records: list[dict[str, str | None]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if len(records) == chunk_size:
                yield records
                records = []
    if records:
        yield records


def load_extract(
    con: Session, source: SourceConfig, paths: Sequence[Path], key: DataKey | None
) -> str:
    """Fill a fresh ``weir_incoming`` table with an extract's records; returns its name.

    The records are weir's own (the contract's fields, as text, card columns
    already tokens plus ``<column>_last4``): each becomes one row, its
    ``_offset`` its place in the extract, counted from 1.
    """
    columns = records_columns(source)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {TABLE} "
        f"({', '.join(f'{ident(name)} {kind}' for name, kind in columns)})"
    )
    fields = [name for name, _ in columns if not name.startswith("_")]
    for path in paths:
        offset = 0
        for records in read_extract(path, key, _config(source).chunk_size):
            table = pa.table(
                {
                    **{
                        name: pa.array([r.get(name) for r in records], pa.string())
                        for name in fields
                    },
                    "_source_file": pa.array([str(path)] * len(records), pa.string()),
                    "_offset": pa.array(range(offset + 1, offset + len(records) + 1), pa.int64()),
                }
            )
            insert_lines(con, table)
            offset += len(records)
    return TABLE


def deletes_key(source: SourceConfig) -> str:
    return f"{POSITION_PREFIX}{source.name}:deletes"


def _deletions_due(source: SourceConfig, ledger: Ledger, now: datetime) -> bool:
    """Whether the source's key comparison is due (never ran, or ran ``every`` ago or more)."""
    config = _config(source)
    if config.deletes is None:
        return False
    key = deletes_key(source)
    last = ledger.positions(key).get(key)
    every = parse_duration(config.deletes.every).total_seconds()
    return last is None or now.timestamp() - float(last) >= every


def _now() -> datetime:
    """The extract's time; its UTC day dates an entity source's extract (its file's name)."""
    return datetime.now(UTC)


def _remove_leftovers(folder: Path) -> None:
    """Files an extract left: one that crashed before its commit, or one committed (raw
    holds its records) whose removal a crash cut short."""
    for pattern in (f"*{CLEAR}", f"*{SEALED}", f"keys-*{CLEAR}.part"):
        for path in folder.glob(pattern):
            path.unlink()


def database_sample(
    source: SourceConfig, limit: int, since: Any = None
) -> list[dict[str, str | None]]:
    """The first ``limit`` rows the source would read (after ``since``), as text; nothing is stored."""
    rows: list[dict[str, str | None]] = []
    for chunk in read_chunks(source, since, limit):
        rows.extend(chunk.records)
    return rows[:limit]


def since_for(source: SourceConfig, ledger: Ledger) -> Any:
    """Where the next incremental extract of ``source`` starts (None: from the start)."""
    config = _config(source)
    stored = stored_cursor(ledger, source) if config.mode == "incremental" else None
    return stored.since(config.lookback, source.name) if stored is not None else None
