"""Roles, grants, masks and row filters, and the users that hold roles (``weir.yml``).

A grant names datasets by pattern: a layer (``marts``), a table
(``marts.sales_daily``), a glob (``marts.sales_*``) or ``*`` for everything.
A row filter is a SQL boolean expression over one table's columns; it is
parsed here, at load, so a typo fails with the file and line rather than at
the first query.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Literal, get_args

import sqlglot
from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from weir.engine.sql import PARSE_ERRORS
from weir.project.base import FieldProblem, Name, Strict

PiiMask = Literal["hash", "redact"]
PII_MASKS: tuple[str, ...] = get_args(PiiMask)

# a layer, layer.table, either with glob characters, or "*" alone
_PATTERN = re.compile(r"^(\*|[a-z0-9_*?\[\]]+(\.[a-z0-9_*?\[\]]+)?)$")

# What a row filter may not contain: it runs inside every scan of its table, so it must
# not read anything else. Its functions are checked against the gateway's allow-list
# when the policy is built.
_NOT_IN_FILTERS = (
    exp.Query,
    exp.Subquery,
    exp.Table,
    exp.Star,
    exp.Placeholder,
    exp.Parameter,
    exp.AggFunc,
    exp.Window,
    exp.DDL,
    exp.DML,
    exp.Command,
)


def pattern_matches(pattern: str, dataset: str) -> bool:
    """Whether a grant or row-filter pattern covers ``dataset`` (``layer.name``)."""
    if pattern == "*":
        return True
    layer, _, name = dataset.partition(".")
    want_layer, _, want_name = pattern.partition(".")
    if not fnmatch.fnmatchcase(layer, want_layer):
        return False
    return not want_name or fnmatch.fnmatchcase(name, want_name)


def parse_row_filter(predicate: str) -> exp.Expr:
    """The predicate as a SQLGlot tree; ValueError when it is not a plain boolean expression."""
    try:
        tree = sqlglot.parse_one(predicate, read="duckdb", into=exp.Condition)
    except PARSE_ERRORS as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise ValueError(f"not a SQL expression: {first}") from None
    for node in tree.walk():
        if isinstance(node, _NOT_IN_FILTERS):
            raise ValueError(f"a row filter may not use {node.key.upper()}")
        if isinstance(node, exp.Column) and node.table:
            raise ValueError(f"write column '{node.name}' without a table name")
    return tree


class RoleConfig(Strict):
    """A role: the datasets it may read, how its columns are masked, which rows it sees."""

    description: str = ""
    grants: list[str] = Field(
        default=[],
        description="datasets it may read: a layer (marts), a table (marts.sales_daily), "
        "a glob (marts.sales_*), or * for everything",
    )
    pii: bool = Field(default=False, description="may see columns classified pii in clear")
    pii_mask: PiiMask = Field(
        default="hash",
        description="how pii columns look to a role without pii: hash (a keyed hash "
        "that still joins) or redact (null)",
    )
    row_filters: dict[str, str] = Field(
        default={},
        description="dataset pattern → SQL condition over that table's columns; "
        "the role sees only the rows where it holds",
    )
    admin: bool = Field(default=False, description="may administer the platform (tokens, audit)")
    operator: bool = Field(
        default=False,
        description="may operate runs and schedules (trigger, re-run, cancel, pause); admin implies it",
    )

    @field_validator("grants")
    @classmethod
    def _grants_are_patterns(cls, grants: list[str]) -> list[str]:
        for grant in grants:
            if not _PATTERN.match(grant):
                raise ValueError(
                    f"'{grant}' is not a dataset pattern: write a layer (marts), "
                    "a table (marts.sales_daily), a glob (marts.sales_*) or *"
                )
        return grants

    @model_validator(mode="after")
    def _filters_fit_grants(self) -> RoleConfig:
        for pattern, predicate in self.row_filters.items():
            if not _PATTERN.match(pattern):
                raise FieldProblem(
                    "row_filters",
                    f"'{pattern}' is not a dataset pattern",
                    "key each row filter by a table (marts.sales_daily) or a glob (marts.*)",
                )
            try:
                parse_row_filter(predicate)
            except ValueError as exc:
                raise FieldProblem(
                    "row_filters",
                    f"the filter for {pattern}: {exc}",
                    "write a condition over the table's columns, e.g. region = 'North'",
                ) from None
        return self


class UserConfig(Strict):
    """A person or service and the roles it may act as."""

    description: str = ""
    roles: list[Name] = Field(
        min_length=1, description="the roles it may act as; the first is its default"
    )


def check_users(roles: dict[str, RoleConfig], users: dict[str, UserConfig]) -> None:
    """Every role a user holds exists (a FieldProblem naming the user otherwise)."""
    for user, config in users.items():
        for role in config.roles:
            if role not in roles:
                close = difflib.get_close_matches(role, list(roles), n=1)
                hint = f"did you mean '{close[0]}'?" if close else None
                raise FieldProblem(
                    user,
                    f"holds role '{role}', which is not defined under roles",
                    hint or f"defined roles: {', '.join(sorted(roles)) or 'none'}",
                )
