"""A database source's settings: ``database:`` in ``sources/<name>.yml``.

The URL is a SQLAlchemy URL whose secrets come from the environment
(``${VAR}``), never from the project's files: a password written in clear is
refused when the project is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from weir.errors import WeirError
from weir.project.base import FieldProblem, Name, Strict
from weir.project.durations import Duration

ExtractMode = Literal["full", "incremental"]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_url(
    url: str,
    prefix: str = "",
    named: str = "the URL names it",
    env: Mapping[str, str] | None = None,
) -> str:
    """``url`` with each ``${VAR}`` replaced from the environment; a missing one is named."""
    values = os.environ if env is None else env

    def value(match: re.Match[str]) -> str:
        name = match[1]
        found = values.get(name)
        if found is None:
            raise WeirError(
                f"{prefix}the environment variable {name} is not set ({named})",
                f"set {name} in the environment weir runs in (export {name}=...)",
            )
        return found

    return PLACEHOLDER.sub(value, url)


class DeleteCheck(Strict):
    """How an incremental source finds rows deleted from its table: a periodic key comparison."""

    flag: Name = Field(
        description="a bool column of the contract that the table does not hold: false for "
        "each row read, true for a tombstone"
    )
    every: Duration = Field(default="1d", description="how often the keys are compared")


class DatabaseConfig(Strict):
    """Where a database source reads: a table or a query, whole or after a cursor."""

    url: str = Field(
        description="SQLAlchemy URL; ${VAR} is replaced by the environment variable VAR"
    )
    table: str | None = Field(default=None, description="a table, or schema.table")
    query: str | None = Field(default=None, description="a SELECT to read instead of a table")
    mode: ExtractMode = Field(
        default="full",
        description="full: every row each time; incremental: the rows after the stored cursor",
    )
    cursor: Name | None = Field(
        default=None, description="incremental: the increasing column (updated_at, an id)"
    )
    lookback: Duration | int | None = Field(
        default=None,
        description="incremental: read again this far behind the cursor (a duration for a "
        "time cursor, a number for a numeric one), for transactions that commit late",
    )
    deletes: DeleteCheck | None = Field(
        default=None,
        description="incremental: compare the table's keys with staging's now and then; "
        "a key gone from the table gets a tombstone",
    )
    chunk_size: int = Field(
        default=10_000, ge=1, description="rows fetched from the server at a time"
    )

    @model_validator(mode="after")
    def _consistent(self) -> DatabaseConfig:
        if (self.table is None) == (self.query is None):
            raise FieldProblem("table", "give a table or a query (one of them, not both)")
        if self.mode == "incremental" and self.cursor is None:
            raise FieldProblem(
                "cursor", "an incremental extract needs a cursor column", "cursor: updated_at"
            )
        if self.mode == "full" and (self.cursor is not None or self.lookback is not None):
            field = "cursor" if self.cursor is not None else "lookback"
            raise FieldProblem(field, f"{field} applies to incremental extracts only")
        if self.mode == "full" and self.deletes is not None:
            raise FieldProblem(
                "deletes",
                "deletes applies to incremental extracts only",
                "a full extract of an entity source needs none: a deleted row is missing "
                "from the next day's extract",
            )
        if isinstance(self.lookback, int) and self.lookback < 0:
            raise FieldProblem("lookback", "a lookback is zero or more")
        _check_no_secret(self.url)
        return self


def _check_no_secret(url: str) -> None:
    """A password in the URL must be a ``${VAR}`` placeholder, never the secret itself."""
    match = re.match(r"^[^:/]+://(?P<user>[^@/]*)@", url)
    if match is None or ":" not in match["user"]:
        return
    password = match["user"].split(":", 1)[1]
    if not PLACEHOLDER.fullmatch(password):
        raise FieldProblem(
            "url",
            "the URL holds a password: secrets never go in the project's files",
            "write it as ${VAR} (e.g. postgresql+psycopg://weir:${PG_PASSWORD}@db/shop) and "
            "set VAR in the environment",
        )
