"""A model: one SELECT in ``models/<namespace>/<name>.sql``, with a YAML header.

The header is the file's leading block comment; the dependencies come from
parsing the SELECT with SQLGlot (every ``namespace.table`` it reads), so a
model is plain SQL with no templating. Incremental models read the interval
being built through the DuckDB parameters ``$start`` and ``$end``.

What parsing a SELECT yields (the tables it reads, its fingerprint) is kept
in a cache file under the project's state, by the SHA-256 of its text: a
project opened again parses only the models whose SQL changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, model_validator
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokenizer_core import Token, TokenType

from weir.engine.sql import PARSE_ERRORS
from weir.errors import ProjectError
from weir.project.base import Strict
from weir.project.config import Team
from weir.project.loader import load_yaml

ModelKind = Literal["full", "incremental_by_time", "scd2"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
MODELS_DIR = "models"
RESERVED_NAMESPACES = ("raw", "quarantine", "staging")

_HEADER = re.compile(r"\A\s*/\*(?P<yaml>.*?)\*/", re.S)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class AcceptedValues(Strict):
    column: str
    values: list[str | int | float | bool]


class Relationship(Strict):
    column: str
    to: str = Field(description="namespace.table the values must exist in")
    field: str


class RowCountChange(Strict):
    max_pct: float = Field(gt=0, description="largest allowed change of the row count, in percent")


class Audit(Strict):
    """One audit: exactly one of its fields is set."""

    not_null: list[str] | None = None
    unique: list[str] | None = None
    accepted_values: AcceptedValues | None = None
    relationships: Relationship | None = None
    row_count_change: RowCountChange | None = None
    sql: str | None = Field(
        default=None, description="a query over `this` returning the failing rows"
    )

    @model_validator(mode="after")
    def _one(self) -> Audit:
        set_fields = [name for name, value in self if value is not None]
        if len(set_fields) != 1:
            raise ValueError(
                f"an audit has exactly one kind, found {', '.join(set_fields) or 'none'}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(name for name, value in self if value is not None)


class ModelHeader(Strict):
    kind: ModelKind = "full"
    time_column: str | None = None
    lookback: int = Field(
        default=0, ge=0, le=366, description="days rebuilt before the newest processed day"
    )
    grain: list[str] = Field(default_factory=list)
    unique_key: list[str] = Field(default_factory=list)
    valid_from: str | None = None
    owner: Team = "data"
    description: str = ""
    audits: list[Audit] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind_fields(self) -> ModelHeader:
        if self.kind == "incremental_by_time" and self.time_column is None:
            raise ValueError("an incremental_by_time model needs time_column")
        if self.kind == "scd2" and (not self.unique_key or self.valid_from is None):
            raise ValueError("an scd2 model needs unique_key and valid_from")
        return self


@dataclass(frozen=True)
class Model:
    """A parsed model file."""

    name: str  # namespace.table
    path: Path
    header: ModelHeader
    sql: str  # the SELECT, without the header
    depends_on: tuple[str, ...]  # namespace.table of every table it reads
    fingerprint: str  # changes when the SQL or the header changes (comments and spacing aside)

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def kind(self) -> str:
        return self.header.kind


ParsedFiles = dict[Path, tuple[tuple[int, int], "Model"]]


def load_models(
    root: Path, cache: Path | None = None, parsed: ParsedFiles | None = None
) -> dict[str, Model]:
    """The project's models by name.

    ``cache`` is the parse cache's file (by the SHA-256 of each SELECT; none:
    parse them all). With ``parsed`` (kept by a long-lived caller), a file
    unchanged since (mtime, size) is not even read again, and ``parsed`` is
    brought up to date.
    """
    folder = root / MODELS_DIR
    on_disk = _ParseCache(cache)
    models: dict[str, Model] = {}
    seen: ParsedFiles = {}
    for path in sorted(folder.glob("*/*.sql")):
        found = path.stat()
        stamp = (found.st_mtime_ns, found.st_size)
        known = parsed.get(path) if parsed is not None else None
        if known is not None and known[0] == stamp:
            model = known[1]
        else:
            model = parse_model(path, root, on_disk)
        seen[path] = (stamp, model)
        models[model.name] = model
    on_disk.save()
    if parsed is not None:
        parsed.clear()
        parsed.update(seen)
    return models


def parse_model(path: Path, root: Path, cache: _ParseCache | None = None) -> Model:
    shown = str(path.relative_to(root))
    namespace, table = path.parent.name, path.stem
    if namespace in RESERVED_NAMESPACES:
        raise ProjectError(
            f"{shown}: the namespace '{namespace}' belongs to ingestion",
            "put models under models/warehouse/, models/marts/ or another folder",
        )
    if not re.fullmatch(r"[a-z][a-z0-9_]*", namespace) or not re.fullmatch(
        r"[a-z][a-z0-9_]*", table
    ):
        raise ProjectError(
            f"{shown}: model names are lower-case letters, digits and underscores",
            "rename the file",
        )
    text = path.read_text(encoding="utf-8")
    header, body = _split_header(text, shown)
    digest = hashlib.sha256(body.encode()).hexdigest()
    known = cache.get(digest) if cache is not None else None
    if known is None:
        known = _parse_select(body, shown)
        if cache is not None:
            cache.put(digest, known)
    tables, sql_digest = known
    return Model(
        name=f"{namespace}.{table}",
        path=path,
        header=header,
        sql=body.strip().rstrip(";"),
        depends_on=tables,
        fingerprint=hashlib.sha256(
            f"{sql_digest}\n{header.model_dump_json()}".encode()
        ).hexdigest()[:16],
    )


def _parse_select(body: str, shown: str) -> tuple[tuple[str, ...], str]:
    """The tables a model's SELECT reads, and a digest of its tokens (comments and spacing aside)."""
    try:
        tokens = _DUCKDB.tokenize(body)
        statements = [s for s in _DUCKDB.parser().parse(tokens, body) if s is not None]
    except PARSE_ERRORS as exc:
        raise ProjectError(
            f"{shown}: the SQL does not parse: {_first_line(exc)}", "fix the syntax"
        ) from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ProjectError(f"{shown}: a model is exactly one SELECT", "remove other statements")
    return tuple(sorted(tables_read(statements[0]))), _token_digest(tokens)


_DUCKDB = Dialect.get_or_raise("duckdb")
# tokens whose text is case-insensitive in DuckDB: keywords and unquoted names
_AS_WRITTEN = {TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER}


def _token_digest(tokens: list[Token]) -> str:
    """SHA-256 of the statement's tokens: comments, spacing, the case of keywords and
    unquoted names, and a trailing semicolon make no difference."""
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens = tokens[:-1]
    digest = hashlib.sha256()
    for token in tokens:
        text = token.text if token.token_type in _AS_WRITTEN else token.text.lower()
        digest.update(f"{token.token_type.name}\x1f{text}\x1e".encode())
    return digest.hexdigest()


class _ParseCache:
    """What parsing each SELECT gave, by the SHA-256 of its text, in one JSON file.

    Written whole (to a temporary file, then renamed) when something new was
    parsed; entries of SQL no model has any more are dropped then. A cache
    written by another SQLGlot version, or unreadable, is ignored.
    """

    VERSION = f"1/sqlglot {version('sqlglot')}"

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, tuple[tuple[str, ...], str]] = {}
        self.used: set[str] = set()
        self.changed = False
        if path is None:
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(saved, dict) or saved.get("version") != self.VERSION:
            return
        for digest, (tables, sql_digest) in saved.get("models", {}).items():
            self.entries[digest] = (tuple(tables), str(sql_digest))

    def get(self, digest: str) -> tuple[tuple[str, ...], str] | None:
        self.used.add(digest)
        return self.entries.get(digest)

    def put(self, digest: str, parsed: tuple[tuple[str, ...], str]) -> None:
        self.entries[digest] = parsed
        self.changed = True

    def save(self) -> None:
        if self.path is None or not (self.changed or set(self.entries) - self.used):
            return
        kept = {d: [list(t), s] for d, (t, s) in self.entries.items() if d in self.used}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            temporary.write_text(
                json.dumps({"version": self.VERSION, "models": kept}), encoding="utf-8"
            )
            os.replace(temporary, self.path)
        except OSError:
            temporary.unlink(missing_ok=True)  # a cache that cannot be written is only slower


def tables_read(tree: exp.Expr) -> set[str]:
    """``namespace.table`` of every table a query reads (CTE names excluded)."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        if table.db and table.name:
            found.add(f"{table.db}.{table.name}")
        elif table.name and table.name not in ctes and not isinstance(table.this, exp.Anonymous):
            found.add(table.name)
    return found


def _split_header(text: str, shown: str) -> tuple[ModelHeader, str]:
    match = _HEADER.match(text)
    raw: Any = {}
    body = text
    if match is not None:
        body = text[match.end() :]
        try:
            raw = load_yaml(match.group("yaml")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ProjectError(
                f"{shown}:{where} the header is not valid YAML", "fix the header's syntax"
            ) from None
    if not isinstance(raw, dict):
        raise ProjectError(
            f"{shown}: the header must be a mapping (kind:, grain:, …)", "see MODELS.md"
        )
    try:
        return ModelHeader.model_validate(raw), body
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "header"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ProjectError(f"{shown}: {field}: {message}", "fix the model's header") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
