"""Look before ingesting: a source's sample (``weir sources test``) and a proposed contract
from an API answer or a spreadsheet (``weir sources discover``). Neither stores anything.

A sample reads what the next ingest would read (a REST source's first page
from its committed cursor; a file source's first new file), through the same
reader and contract as a batch, and shows each record's fields and the reasons
it would be held. Card numbers are tokenised as in a batch and personal fields
are withheld: a sample prints nothing a batch would not store.

A proposal names the records' fields with the types their values suggest, a
key (the first field named ``id`` or ``*_id`` that is always present and
unique, else the first always-present unique field), and for an API the path
to the records and the pagination the answer shows. It is for a person to
review, not to trust: types come from the values seen, not from a schema.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import yaml

from weir.engine import Session, ident
from weir.errors import WeirError
from weir.ingest.contract import Contract
from weir.ingest.files import new_files
from weir.ingest.ledger import Ledger
from weir.ingest.readers import Protect, load_events, load_files
from weir.ingest.rest import RestClient, position_key
from weir.ingest.sheets import column_letter
from weir.project.config import SourceConfig

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Sample:
    """What the next ingest of a source would read: where from, and its first records."""

    source: str
    origin: str  # the API's answer or the file read
    records: pa.Table  # the contract's fields as read, and each record's reasons


def sample(
    con: Session,
    root: Path,
    source: SourceConfig,
    ledger: Ledger,
    protect: Protect,
    limit: int = 10,
) -> Sample:
    """Read the start of what the next ingest would read; store nothing."""
    if source.format == "rest":
        key = position_key(source)
        extract = RestClient(source).extract(ledger.positions(key).get(key), max_pages=1)
        events = pa.table(
            {
                "_raw": pa.array(extract.records[:limit], pa.string()),
                "_source_file": pa.array([source.name] * min(limit, len(extract.records))),
                "_offset": pa.array(range(min(limit, len(extract.records))), pa.int64()),
            }
        )
        table = load_events(con, source, events, protect)
        assert source.rest is not None
        origin = f"{source.rest.url}: the first page held {len(extract.records)} record(s)" + (
            f" after {extract.retries} retries" if extract.retries else ""
        )
    else:
        files, skipped = new_files(root, source, ledger)
        if not files:
            raise WeirError(
                f"source {source.name} has no new file under {source.location}"
                + (f" ({skipped} taken in already)" if skipped else ""),
                "land a file there, or check location in "
                f"sources/{source.name}.yml; a sample reads what the next ingest would read",
            )
        table = load_files(con, source, [root / files[0].path], protect)
        origin = f"{files[0].path} (1 of {len(files)} new file(s))"
    checked = Contract(source).checked_sql(f"(SELECT *, rowid AS _seq FROM {table})", time.time())
    shown = ", ".join(
        f"CASE WHEN {ident(c.name + '__text')} IS NOT NULL THEN '(withheld: pii)' END AS {ident(c.name)}"
        if c.classification == "pii"
        else f"{ident(c.name + '__text')} AS {ident(c.name)}"
        for c in source.columns
    )
    records = con.arrow(
        f"SELECT _offset AS at, {shown}, _reasons FROM ({checked}) ORDER BY _seq LIMIT {int(limit)}"
    )
    return Sample(source.name, origin, records)


# -- proposing a contract -------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """A proposed ``sources/<name>.yml``."""

    name: str
    text: str
    records: int  # how many records the proposal was made from


def propose(target: str, name: str | None = None, env: Mapping[str, str] | None = None) -> Proposal:
    """A contract for the records at ``target``: an API's URL or a spreadsheet file."""
    if target.startswith(("http://", "https://")):
        return _propose_api(target, name, env or {})
    path = Path(target)
    if path.suffix.lower() in SHEET_SUFFIXES:
        if not path.is_file():
            raise WeirError(f"no file at {path}", "give the path of a spreadsheet")
        return _propose_sheet(path, name)
    raise WeirError(
        f"cannot propose a contract from {target}",
        "give an API's URL (http:// or https://) or a spreadsheet (.xlsx, .xls, .ods)",
    )


def _propose_api(url: str, name: str | None, env: Mapping[str, str]) -> Proposal:
    headers = {"Authorization": f"Bearer {env['token']}"} if env.get("token") else {}
    try:
        response = httpx.get(url, headers=headers, timeout=30, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise WeirError(f"{url} did not answer ({type(exc).__name__})", "check the URL") from None
    if response.status_code >= 400:
        raise WeirError(
            f"{url} answered {response.status_code} {response.reason_phrase}",
            "check the URL; for an API that needs a token, pass --token-env VARIABLE",
        )
    try:
        answer = response.json()
    except ValueError:
        raise WeirError(f"{url} did not answer JSON", "give the API's records endpoint") from None
    path, records = _find_records(answer)
    if records is None:
        raise WeirError(f"{url} answered no list of records", "give the API's records endpoint")
    pagination: dict[str, Any] = {"style": "none"}
    if "next" in response.links:
        pagination = {"style": "link"}
    else:
        following = _find_next(answer)
        if following:
            pagination = {"style": "cursor", "next": following}
    base = url.split("?", 1)[0]
    stem = name or _name(base.rstrip("/").rsplit("/", 1)[-1])
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


def _propose_sheet(path: Path, name: str | None) -> Proposal:
    from python_calamine import CalamineWorkbook

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
    stem = name or _name(path.stem)
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
    return Proposal(stem, text, count)


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
