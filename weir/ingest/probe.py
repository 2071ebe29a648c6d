"""``weir sources test`` and ``weir sources discover``: one table per command that a format plugs into.

``test`` reaches a source the way an ingest would and shows a sample of what
it would read (a file source's first new file, a REST source's first page from
its committed cursor, a database table's rows after its cursor), checked
against its contract, storing nothing: no file landed, no batch, no cursor
moved. ``discover`` looks at a database table, an API's answer or a
spreadsheet and proposes a contract for a person to review: types come from
what was seen, not from a schema.

Each format brings one function: a ``Tester`` (keyed by the source's
``format``) and a ``Discoverer`` (keyed by what the target is: ``rest`` for an
http(s) URL, ``database`` for another URL, a file's extension for a file).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from weir.engine import Session, ident
from weir.errors import AccessDenied, WeirError
from weir.ingest.contract import Contract
from weir.ingest.ledger import Ledger
from weir.ingest.readers import load_events, read_files, records_columns
from weir.project import ProjectFiles, SourceConfig

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Probe:
    """What ``weir sources test`` found: where it reached, and a sample of what it would read."""

    source: str
    reached: str  # e.g. "table purchase_orders at postgresql+psycopg://weir:***@db/shop"
    reads: str  # what an ingest would read now, e.g. "rows with updated_at after …"
    records: list[dict[str, Any]]  # the sample: the contract's text values and each _offset


@dataclass(frozen=True)
class Proposal:
    """A proposed contract: the source's name, its YAML text, and what to review in it."""

    name: str
    text: str
    notes: tuple[str, ...] = ()  # e.g. how many records it was made from, a secret to set


@dataclass(frozen=True)
class DiscoverOptions:
    table: str | None = None  # a database's table (schema.table), when it holds several
    name: str | None = None  # the source's name (default: from the table, the URL or the file)
    token: str | None = None  # a bearer token for an API that needs one


Tester = Callable[[ProjectFiles, SourceConfig, Ledger, Session, int], Probe]
Discoverer = Callable[[str, DiscoverOptions], Proposal]


def _testers() -> dict[str, Tester]:
    from weir.ingest.database_probe import test_database

    files: Tester = test_files
    return {
        "csv": files,
        "jsonl": files,
        "json": files,
        "xml": files,
        "parquet": files,
        "xlsx": files,
        "ods": files,
        "rest": test_rest,
        "database": test_database,
    }


def _discoverers() -> dict[str, Discoverer]:
    from weir.ingest.database_probe import discover_database

    sheet: Discoverer = discover_sheet
    return {
        "database": discover_database,
        "rest": discover_api,
        **{suffix: sheet for suffix in SHEET_SUFFIXES},
    }


def test_source(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> tuple[Probe, pa.Table]:
    """Reach ``source`` and read up to ``limit`` records; each checked against the contract."""
    tester = _testers().get(source.format)
    if tester is None:
        raise WeirError(
            f"`weir sources test` cannot test {source.format} sources yet",
            "ingest a small sample instead: `weir ingest NAME`",
        )
    probe = tester(files, source, ledger, session, limit)
    return probe, checked_sample(session, source, probe.records)


def target_kind(target: str) -> str:
    """What ``target`` is: ``rest`` (http/https URL), ``database`` (another URL) or a file type."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("http", "https"):
        return "rest"
    if scheme:
        return "database"
    return Path(target).suffix.lstrip(".").lower() or "file"


def discover(target: str, options: DiscoverOptions) -> Proposal:
    """A proposed contract for ``target`` (a database or API URL, or a spreadsheet), to review."""
    kind = target_kind(target)
    discoverers = _discoverers()
    found = discoverers.get(kind)
    if found is None:
        raise WeirError(
            f"`weir sources discover` cannot propose a contract for a {kind} target yet",
            "give a database URL (such as postgresql+psycopg://user@host/db), an API's URL "
            f"(http:// or https://) or a spreadsheet (.{', .'.join(SHEET_SUFFIXES)})",
        )
    return found(target, options)


# -- what a caller over HTTP may name ---------------------------------------------------
LANDING_DIR = "landing"
# database servers a caller over HTTP may name (a file database, such as SQLite, is a file)
SERVED_DIALECTS = ("postgresql", "mysql", "mariadb", "mssql", "oracle")
# the only URL parameters taken from such a caller: others make a driver read a file
# (sslkey, passfile, service, read_default_file) or a socket path
SERVED_PARAMETERS = ("sslmode", "connect_timeout", "application_name", "charset")


def served_target(files: ProjectFiles, url: str | None, path: str | None) -> str:
    """The target a caller over HTTP names for ``discover``: an API's or a database server's
    URL, or a spreadsheet under the project's landing folder or a file source's location.

    The terminal's ``weir sources discover`` reads any file and the environment its
    operator may; a caller over HTTP may not: a path outside those folders, a file
    database (``sqlite:///…``), a ``${VAR}`` to fill in from the server's environment
    and a URL parameter that makes a driver read a file are each refused, saying why.
    """
    if (url is None) == (path is None):
        raise WeirError(
            "give either url or path",
            "url: an API's (https://…) or a database server's URL; path: a spreadsheet under "
            f"{LANDING_DIR}/ or a file source's location",
        )
    if url is not None:
        return _served_url(url.strip())
    assert path is not None
    return str(_served_path(files, path.strip()))


def _served_url(url: str) -> str:
    from weir.project.database import PLACEHOLDER

    scheme, found, _ = url.partition("://")
    if not found or not scheme:
        raise WeirError(
            "url is not a URL",
            "give https://… for an API, or a database server's URL such as "
            "postgresql+psycopg://user:password@host/db",
        )
    if PLACEHOLDER.search(url):
        raise AccessDenied(
            "url names an environment variable (${…}): the server does not fill in its "
            "environment for a caller",
            "write the password in the URL: it is never stored, audited or put in the proposal",
        )
    if scheme.lower() in ("http", "https"):
        return url
    if scheme.lower() == "file":
        raise AccessDenied(
            "the API does not read files by URL",
            f"give a landed spreadsheet's path instead (path: {LANDING_DIR}/…)",
        )
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except Exception:
        raise WeirError(
            "url is neither an http(s) URL nor a database URL",
            "e.g. https://api.example.com/v1/orders or postgresql+psycopg://user@host/db",
        ) from None
    dialect = parsed.get_backend_name()
    if dialect not in SERVED_DIALECTS:
        raise AccessDenied(
            f"the API does not open {dialect} databases: it discovers tables on database "
            f"servers only ({', '.join(SERVED_DIALECTS)})",
            f"a {dialect} database is a file: run `weir sources discover` at the project",
        )
    extra = sorted(set(parsed.query) - set(SERVED_PARAMETERS))
    if extra:
        raise AccessDenied(
            f"url has the parameter(s) {', '.join(extra)}, which the API does not take",
            f"leave them out (it takes {', '.join(SERVED_PARAMETERS)}), or run "
            "`weir sources discover` at the project",
        )
    return url


def _served_path(files: ProjectFiles, path: str) -> Path:
    if any(ord(c) < 32 for c in path):
        raise WeirError("path holds a control character", "give the file's path as it is")
    relative = Path(path)
    if not path or relative.is_absolute() or ".." in relative.parts:
        raise AccessDenied(
            f"path {path!r} is not a path inside the project",
            f"give it relative to the project, without '..', e.g. {LANDING_DIR}/export.xlsx",
        )
    root = files.root.resolve()
    full = (root / relative).resolve()  # a link is followed: where it points must be allowed
    landing = (root / LANDING_DIR).resolve()
    if full.is_relative_to(files.state_dir):  # keys, the ledger, the audit log
        raise AccessDenied(
            f"path {path} is inside the project's state folder", "give a landed spreadsheet"
        )
    if full.is_relative_to(landing):
        return full
    for source in files.sources.values():
        if source.location and full in _located(root, source.location):
            return full
    raise AccessDenied(
        f"path {path} is outside the project's {LANDING_DIR}/ folder and every source's location",
        f"put the file under {LANDING_DIR}/ and give that path",
    )


def _located(root: Path, location: str) -> set[Path]:
    """The files a source's location matches now, links followed."""
    try:
        return {p.resolve() for p in root.glob(location)}
    except (NotImplementedError, ValueError):  # a location pathlib cannot glob from the root
        return set()


def shown_target(target: str) -> str:
    """``target`` as it may be shown and audited: no password, no URL query (an API key)."""
    kind = target_kind(target)
    if kind == "database":
        from weir.ingest.database import shown_url

        return shown_url(target)
    if kind == "rest":
        from urllib.parse import urlsplit, urlunsplit

        try:
            parts = urlsplit(target.split("?", 1)[0].split("#", 1)[0])
            hidden = parts.password is not None
        except ValueError:  # not a URL after all (a bracket left open): shown as a scheme
            return f"{target.split('://', 1)[0]}://…"
        if hidden:
            login, _, place = parts.netloc.rpartition("@")
            parts = parts._replace(netloc=f"{login.split(':', 1)[0]}:***@{place}")
        return urlunsplit(parts)
    return target


# -- files ------------------------------------------------------------------------------
def test_files(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> Probe:
    """The first new file of a file source, read as an ingest would read it."""
    from weir.ingest.files import new_files

    waiting, skipped = new_files(files.root, source, ledger)
    if not waiting:
        raise WeirError(
            f"no new file of source {source.name} matches {source.location} "
            f"({skipped} already ingested)",
            f"land a file under {source.location}, or check location in sources/{source.name}.yml",
        )
    first = waiting[0]
    read = read_files(session, source, [files.root / first.path])
    return Probe(
        source.name,
        f"{len(waiting)} new file(s) under {source.location}",
        f"the first, {first.path}",
        _records(read, source, limit),
    )


def _records(read: pa.Table, source: SourceConfig, limit: int) -> list[dict[str, Any]]:
    names = [n for n, _ in records_columns(source) if n in read.column_names]
    records: list[dict[str, Any]] = read.select(names).slice(0, limit).to_pylist()
    return records


# -- REST -------------------------------------------------------------------------------
def test_rest(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> Probe:
    """The first page an ingest would fetch (from the committed cursor), split as a batch would."""
    from weir.ingest.readers import TABLE
    from weir.ingest.rest import RestClient, position_key

    assert source.rest is not None
    key = position_key(source)
    cursor = ledger.positions(key).get(key)
    extract = RestClient(source).extract(cursor, max_pages=1)
    shown = extract.records[:limit]
    events = pa.table(
        {
            "_raw": pa.array(shown, pa.string()),
            "_source_file": pa.array([source.name] * len(shown), pa.string()),
            "_offset": pa.array(range(len(shown)), pa.int64()),
        }
    )
    load_events(session, source, events)
    read = session.arrow(f"SELECT * FROM {TABLE} ORDER BY rowid")
    reached = f"{source.rest.url}: the first page held {len(extract.records)} record(s)" + (
        f" after {extract.retries} retries" if extract.retries else ""
    )
    reads = (
        f"the records after cursor {cursor}" if cursor else "every record (no cursor stored yet)"
    )
    return Probe(source.name, reached, reads, _records(read, source, limit))


# -- the sample, checked ------------------------------------------------------------------
def checked_sample(
    session: Session, source: SourceConfig, records: list[dict[str, Any]]
) -> pa.Table:
    """The sample's text values, where each was read (``at``), and each record's reasons.

    Classified values (pii, pci) are withheld: a sample shows a source's shape,
    never a person's data or a card number.
    """
    columns = records_columns(source)
    table = pa.table(
        {
            name: pa.array(
                [r.get(name) for r in records], pa.int64() if kind == "BIGINT" else pa.string()
            )
            for name, kind in columns
        }
    ).append_column("_seq", pa.array(range(len(records)), pa.int64()))
    session.register("weir_sample", table)
    try:
        contract = Contract(source)
        checked = contract.checked_sql("weir_sample", time.time())
        shown = ", ".join(
            f"{ident(c.name + '__text')} AS {ident(c.name)}"
            if c.classification is None
            else f"CASE WHEN {ident(c.name + '__text')} IS NULL THEN NULL "
            f"ELSE '(withheld: {c.classification})' END AS {ident(c.name)}"
            for c in source.columns
        )
        return session.arrow(
            f"SELECT _offset AS at, {shown}, _reasons FROM ({checked}) ORDER BY _seq"
        )
    finally:
        session.unregister("weir_sample")


# -- proposing a contract from an API answer or a spreadsheet -------------------------
SHEET_SUFFIXES = ("xlsx", "xlsm", "xls", "ods")


def discover_api(url: str, options: DiscoverOptions) -> Proposal:
    """A contract for the records an API answers at ``url``: fields, key, records path, pages."""
    import httpx

    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    shown = shown_target(url)  # a key in the URL's query is never repeated
    try:
        response = httpx.get(url, headers=headers, timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise WeirError(f"{shown} did not answer ({type(exc).__name__})", "check the URL") from None
    except (httpx.InvalidURL, ValueError) as exc:  # a character or a host no URL may hold
        raise WeirError(f"{shown} is not a valid URL ({exc})", "check the URL") from None
    if response.status_code >= 400:
        raise WeirError(
            f"{shown} answered {response.status_code} {response.reason_phrase}",
            "check the URL; for an API that needs a token, give it (--token-env VARIABLE)",
        )
    try:
        answer = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "no type"
        raise WeirError(
            f"{shown} did not answer JSON (it answered {kind})",
            "give the API's records endpoint",
        ) from None
    path, records = _find_records(answer)
    if records is None:
        raise WeirError(f"{shown} answered no list of records", "give the API's records endpoint")
    pagination: dict[str, Any] = {"style": "none"}
    if "next" in response.links:
        pagination = {"style": "link"}
    else:
        following = _find_next(answer)
        if following:
            pagination = {"style": "cursor", "next": following}
    base = url.split("?", 1)[0]
    stem = options.name or _name(base.rstrip("/").rsplit("/", 1)[-1])
    rest: dict[str, Any] = {"url": base}
    if path:
        rest["records"] = path
    rest["pagination"] = pagination
    rows = [r for r in records if isinstance(r, dict)]
    fields: dict[str, list[Any]] = {}
    for record in rows:
        for key in record:
            fields.setdefault(key, [])
    for record in rows:
        for key in fields:
            fields[key].append(record.get(key))
    head = {
        "name": stem,
        "description": f"Records of {base}, proposed by weir sources discover; review it",
        "format": "rest",
        "location": f"landing/{stem}/*.jsonl",
    }
    return _proposal(stem, head, fields, len(rows), {"rest": rest})


def discover_sheet(target: str, options: DiscoverOptions) -> Proposal:
    """A contract for the first sheet of the spreadsheet at ``target``: its header row's fields."""
    from python_calamine import CalamineWorkbook

    from weir.ingest.sheets import column_letter

    path = Path(target)
    if not path.is_file():
        raise WeirError(f"no file at {path}", "give the path of a spreadsheet")

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own kinds for every broken file
        raise WeirError(f"unreadable spreadsheet {path.name}: {exc}", "re-export it") from None
    try:
        sheet_name = book.sheet_names[0]
        grid = [list(r) for r in book.get_sheet_by_name(sheet_name).to_python()]
    finally:
        book.close()
    if not grid:
        raise WeirError(
            f"the first sheet of {path.name} is empty", "give a sheet with a header row"
        )
    header = [str(v).strip() or column_letter(i) for i, v in enumerate(grid[0])]
    fields: dict[str, list[Any]] = {}
    for i, title in enumerate(header):
        field, n = _name(title), 1
        while field in fields:  # a header written twice
            n += 1
            field = f"{_name(title)}_{n}"
        fields[field] = [row[i] if i < len(row) and row[i] != "" else None for row in grid[1:]]
    stem = options.name or _name(path.stem)
    suffix = path.suffix.lower().lstrip(".")
    head = {
        "name": stem,
        "description": f"Records of {path.name}, proposed by weir sources discover; review it",
        "format": "ods" if suffix == "ods" else "xlsx",
        "location": f"landing/{stem}/*{path.suffix.lower()}",
    }
    return _proposal(stem, head, fields, len(grid) - 1, {"sheet": {"sheets": [sheet_name]}})


def _proposal(
    stem: str,
    head: dict[str, Any],
    fields: dict[str, list[Any]],
    count: int,
    extra: dict[str, Any],
) -> Proposal:
    if not fields:
        raise WeirError("the records hold no field", "give records with at least one field")
    key = _key(fields)
    columns = []
    for field, values in fields.items():
        column: dict[str, Any] = {"name": _name(field), "type": _type(values)}
        if field == key or all(v is not None for v in values):
            column["nullable"] = False
        columns.append(column)
    body = {**head, "key": [_name(key)], **extra}
    text = yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=1 << 16)
    # one line a column, as people write them; names and types are plain words
    text += "columns:\n" + "".join(
        "  - {" + ", ".join(f"{k}: {_plain(v)}" for k, v in c.items()) + "}\n" for c in columns
    )
    SourceConfig(**yaml.safe_load(text))  # the proposal is a valid source
    return Proposal(stem, text, (f"proposed from {count} record(s)",))


def _plain(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _find_records(answer: Any, path: str = "") -> tuple[str, list[Any] | None]:
    """The first list of objects in the answer, breadth first, and its dotted path."""
    if isinstance(answer, list):
        return path, answer
    queue: list[tuple[str, Any]] = [(path, answer)]
    while queue:
        at, node = queue.pop(0)
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{at}.{key}" if at else key
                if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                    return where, value
                queue.append((where, value))
    return "", None


def _find_next(answer: Any, path: str = "") -> str | None:
    """The dotted path of a next-page cursor in the answer (a key like next or next_cursor)."""
    if not isinstance(answer, dict):
        return None
    for key, value in answer.items():
        where = f"{path}.{key}" if path else key
        if key.lower() in ("next", "next_cursor", "nextcursor", "next_page_token", "cursor") and (
            isinstance(value, str | int) or value is None
        ):
            return where
        if isinstance(value, dict):
            found = _find_next(value, where)
            if found:
                return found
    return None


def _key(fields: Mapping[str, Sequence[Any]]) -> str:
    def unique(values: Sequence[Any]) -> bool:
        present = [json.dumps(v, default=str) for v in values if v is not None]
        return len(present) == len(values) and len(set(present)) == len(present)

    names = list(fields)
    preferred = [n for n in names if n.lower() == "id" or n.lower().endswith("_id")]
    for name in [*preferred, *names]:
        if unique(fields[name]):
            return name
    return names[0]


def _type(values: Sequence[Any]) -> str:
    seen = [v for v in values if v is not None and v != ""]
    if not seen:
        return "string"
    if all(isinstance(v, bool) for v in seen):
        return "bool"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
        whole = all(isinstance(v, int) or float(v).is_integer() for v in seen)
        return "int" if whole else "float"
    if all(isinstance(v, dt.datetime) for v in seen):
        return "epoch"
    if all(
        (isinstance(v, dt.date) and not isinstance(v, dt.datetime))
        or (isinstance(v, str) and _DATE.match(v))
        for v in seen
    ):
        return "date"
    return "string"


def _name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"f_{name}" if name else "field"
    return name[:63]


def save_proposal(start: Path, proposal: Proposal) -> Path:
    """Write ``proposal`` as ``sources/<name>.yml`` of the project holding ``start``.

    An existing file is never replaced; the text is checked as a contract first.
    """
    from weir.project.loader import SOURCES_DIR, find_root, load_model

    root = find_root(start)
    path = root / SOURCES_DIR / f"{proposal.name}.yml"
    if path.exists():
        raise WeirError(
            f"{path.relative_to(root)} already exists",
            "give another --name, or print the proposal (without --write) and merge it by hand",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(proposal.text, encoding="utf-8")
    try:
        load_model(path, SourceConfig, root)
    except WeirError:
        path.unlink()
        raise
    return path
