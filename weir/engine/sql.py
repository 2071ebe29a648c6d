"""How weir writes names and values into SQL: one place, through SQLGlot.

Text that comes from a project file or a person never enters SQL as it is: a
name becomes a quoted identifier, a value a string literal, a dotted table
name a qualified, quoted table. Each is rendered by SQLGlot for the engine's
dialect, so quoting rules (doubled quotes, backslashes) are the dialect's.
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot.errors
from sqlglot import exp

# What parsing SQL that does not parse raises. SQLGlot's compiled parser raises a
# TypeError on some malformed input (``1 ->``) where the pure-Python one raises a
# ParseError: both mean the text is not SQL weir can read.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    sqlglot.errors.ParseError,
    sqlglot.errors.TokenError,
    TypeError,
)

DIALECT = "duckdb"


# Names and literals repeat in every query a source's contract builds (the collector
# builds some per group of requests): SQLGlot renders each once.
@lru_cache(maxsize=4096)
def ident(name: str, dialect: str = DIALECT) -> str:
    """``name`` as a quoted identifier."""
    return exp.to_identifier(name, quoted=True).sql(dialect)


@lru_cache(maxsize=4096)
def lit(value: str, dialect: str = DIALECT) -> str:
    """``value`` as a string literal."""
    return exp.Literal.string(value).sql(dialect)


def table(name: str, schema: str | None = None, dialect: str = DIALECT) -> str:
    """``schema.name`` as a qualified table, each part quoted."""
    return exp.table_(name, db=schema, quoted=True).sql(dialect)
