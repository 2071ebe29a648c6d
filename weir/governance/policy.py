"""Who may read what: roles and their grants, column classification, masks and row filters.

The policy is built from the project's files (``weir.yml`` roles and users,
the sources' contracts) and the models' recorded column lineage. It answers
three questions the SQL gateway asks for every table a query reads: may this
role read it, which of its columns are personal data, and which of its rows
the role may see.

Classification follows the data. A source column carries its contract's
``classification``; the raw, staging and quarantine tables of a source inherit
it, and the text a malformed record is kept as (``_raw``, ``_problem``,
``_reasons``) counts as personal data whenever the source has any. A model's
column is personal data when its lineage reaches one, and in any case when
its name carries the name of a personal-data column (``email``,
``customer_email``): a model whose lineage is not recorded yet, or not
traceable, is still covered.
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from weir.errors import AccessDenied, AuthError, ProjectError, WeirError
from weir.governance.sqlcheck import check_tree
from weir.lake import Lake
from weir.project import ProjectFiles
from weir.project.access import RoleConfig, parse_row_filter, pattern_matches

ColumnClass = Literal["pii", "pci"]
SOURCE_LAYERS = ("raw", "staging", "quarantine")
# What ingestion adds to a source's tables and which of it is the record's own text.
_RECORD_TEXT = frozenset({"_raw", "_problem", "_reasons"})
_INGEST_METADATA = frozenset(
    {
        "_source_file",
        "_offset",
        "_batch_id",
        "_record_id",
        "_received_at",
        "_status",
        "_extract_date",
        "_day",
    }
)


@dataclass(frozen=True)
class Principal:
    """Who is asking (a user of ``weir.yml``) and in which of their roles."""

    user: str
    role: str


@dataclass(frozen=True)
class TableRule:
    """How one role sees one table: its columns to mask and its row filter."""

    dataset: str
    masked: frozenset[str]  # columns the role sees masked (every pii column, unless pii: true)
    mask: Literal["hash", "redact"]
    row_filter: exp.Expr | None


class Policy:
    """Roles, grants and classification of one project, as of its files and recorded lineage."""

    def __init__(
        self,
        files: ProjectFiles,
        lineage: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        columns: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``lineage``: model → column → upstream ``layer.table.column`` (``RunLog.lineage()``);
        ``columns``: lake table → its column names, for ``classification`` and ``columns``."""
        self.files = files
        self._roles: dict[str, RoleConfig] = dict(files.config.roles)
        self._users = dict(files.config.users)
        self._lineage = {k: dict(v) for k, v in (lineage or {}).items()}
        self._columns: Mapping[str, Sequence[str]] = columns if columns is not None else {}
        defined = _defined_datasets(files)
        self._filters = {
            role: tuple(
                (_named_table(role, pattern, defined), _checked_filter(role, pattern, sql))
                for pattern, sql in config.row_filters.items()
            )
            for role, config in self._roles.items()
        }
        self._pii_names = tuple(
            sorted(
                {
                    tuple(c.name.split("_"))
                    for source in files.sources.values()
                    for c in source.columns
                    if c.classification == "pii"
                }
            )
        )

    # -- who ------------------------------------------------------------------------
    def principal(self, user: str, role: str | None = None) -> Principal:
        """``user`` acting as ``role`` (their first role by default)."""
        config = self._users.get(user)
        if config is None:
            raise AuthError(f"unknown user '{user}'", "users are listed under users: in weir.yml")
        if role is None:
            return Principal(user, config.roles[0])
        if role not in config.roles:
            raise AccessDenied(
                f"user '{user}' does not hold role '{role}'",
                f"act as one of: {', '.join(config.roles)}",
            )
        return Principal(user, role)

    def roles(self) -> list[str]:
        return sorted(self._roles)

    def users(self) -> list[str]:
        return sorted(self._users)

    def role(self, name: str) -> RoleConfig:
        config = self._roles.get(name)
        if config is None:
            close = difflib.get_close_matches(name, list(self._roles), n=1)
            raise AccessDenied(
                f"no role named '{name}'",
                f"did you mean '{close[0]}'?" if close else "roles are defined in weir.yml",
            )
        return config

    def is_admin(self, role: str) -> bool:
        config = self._roles.get(role)
        return config is not None and config.admin

    def is_operator(self, role: str) -> bool:
        """Whether ``role`` may operate runs and schedules (``operator: true``, or an admin)."""
        config = self._roles.get(role)
        return config is not None and (config.admin or config.operator)

    # -- what -----------------------------------------------------------------------
    def can_read(self, role: str, dataset: str) -> bool:
        """Whether ``role`` may read the lake table ``dataset`` (``layer.name``)."""
        config = self._roles.get(role)
        if config is None or "." not in dataset:
            return False
        return any(pattern_matches(grant, dataset) for grant in config.grants)

    def datasets(self, role: str, available: Iterable[str]) -> list[str]:
        """Which of the lake's tables ``role`` may read."""
        return sorted(d for d in available if self.can_read(role, d))

    def known_datasets(self) -> list[str]:
        return sorted(self._columns)

    def columns(self, dataset: str) -> tuple[str, ...] | None:
        """The table's columns as the policy last saw them (None: not known)."""
        found = self._columns.get(dataset)
        return tuple(found) if found is not None else None

    def classification(self, dataset: str) -> dict[str, str]:
        """Column → ``pii`` or ``pci``, for the classified columns of ``dataset``."""
        found: dict[str, str] = {}
        for column in self._columns.get(dataset, ()):
            kind = self.column_class(dataset, column)
            if kind is not None:
                found[column] = kind
        return found

    def column_class(self, dataset: str, column: str) -> ColumnClass | None:
        return self._classify(dataset, column, frozenset())

    def rule(self, role: str, dataset: str, columns: Sequence[str]) -> TableRule:
        """How ``role`` sees ``dataset`` with these columns (AccessDenied when it may not read it)."""
        config = self.role(role)
        if not self.can_read(role, dataset):
            raise AccessDenied(
                f"role '{role}' may not read {dataset}",
                "ask for a grant in weir.yml, or list what you may read in the catalog",
            )
        masked = (
            frozenset() if config.pii else frozenset(c for c in columns if self._masks(dataset, c))
        )
        filters = [
            tree for pattern, tree in self._filters[role] if pattern_matches(pattern, dataset)
        ]
        present = {c.lower() for c in columns}
        for tree in filters:
            missing = sorted({c.name for c in tree.find_all(exp.Column)} - present)
            if missing:
                # a filter that cannot apply must not quietly show every row
                raise AccessDenied(
                    f"role '{role}' has a row filter for {dataset} over a column it lacks "
                    f"({', '.join(missing)})",
                    f"fix roles.{role}.row_filters in weir.yml",
                )
        row_filter = None
        for tree in filters:
            row_filter = tree.copy() if row_filter is None else exp.and_(row_filter, tree.copy())
        return TableRule(dataset, masked, config.pii_mask, row_filter)

    # -- classification -------------------------------------------------------------
    def _masks(self, dataset: str, column: str) -> bool:
        if self._classify(dataset, column, frozenset()) == "pii":
            return True
        known = self._columns.get(dataset)
        layer = dataset.partition(".")[0]
        # a column the policy has not seen (an older snapshot, a table newer than the
        # policy) is masked unless it is ingest bookkeeping: deny by default
        return (
            known is not None
            and column not in known
            and column not in _INGEST_METADATA
            and layer not in SOURCE_LAYERS
        )

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the policy is immutable once built
    def _classify(self, dataset: str, column: str, seen: frozenset[str]) -> ColumnClass | None:
        layer, _, name = dataset.partition(".")
        if layer in SOURCE_LAYERS:
            if name in self.files.sources:
                return self._source_class(name, column)
            # a source whose contract is gone: nothing says what its columns hold
            return None if column in _INGEST_METADATA else "pii"
        if self._named_like_pii(column):
            return "pii"
        found: ColumnClass | None = None
        for upstream in self._lineage.get(dataset, {}).get(column, ()):
            table, upstream_column = _split_column(upstream)
            if upstream in seen or not table:
                continue
            kind = self._classify(table, upstream_column, seen | {upstream})
            if kind == "pii":
                return "pii"
            found = found or kind
        return found

    def _source_class(self, source: str, column: str) -> ColumnClass | None:
        config = self.files.sources[source]
        has_pii = any(c.classification == "pii" for c in config.columns)
        if column in config.column_names:
            return config.column(column).classification
        if column in _RECORD_TEXT:
            return "pii" if has_pii else None
        if column in _INGEST_METADATA:
            return None
        if column.endswith("_last4") and column.removesuffix("_last4") in config.column_names:
            return "pci"
        # a column the contract does not know (a dropped field still in old data)
        return "pii" if has_pii else None

    def _named_like_pii(self, column: str) -> bool:
        words = tuple(column.lower().split("_"))
        return any(
            words[i : i + len(name)] == name
            for name in self._pii_names
            for i in range(len(words) - len(name) + 1)
        )


def _defined_datasets(files: ProjectFiles) -> list[str]:
    """Every table the project's files define: its sources' tables and its models."""
    ingested = [f"{layer}.{source}" for layer in SOURCE_LAYERS for source in files.sources]
    models = [f"{p.parent.name}.{p.stem}" for p in (files.root / "models").glob("*/*.sql")]
    return sorted(ingested + models)


def _named_table(role: str, pattern: str, defined: list[str]) -> str:
    """A row filter's key, when it names one table, must name a table the project defines.

    A misspelt key would filter nothing, and the role would see every row.
    """
    if any(ch in pattern for ch in "*?[") or "." not in pattern or pattern in defined:
        return pattern
    close = difflib.get_close_matches(pattern, defined, n=1)
    raise ProjectError(
        f"weir.yml: roles.{role}.row_filters: {pattern} is not a table of this project",
        f"did you mean {close[0]}?" if close else "key the filter by a source table or a model",
    )


def _checked_filter(role: str, pattern: str, sql: str) -> exp.Expr:
    """A row filter as a tree, its functions held to the gateway's allow-list."""
    tree = parse_row_filter(sql)
    try:
        check_tree(tree)
    except WeirError as exc:
        raise ProjectError(
            f"weir.yml: roles.{role}.row_filters: the filter for {pattern}: {exc.what}",
            "use plain comparisons and everyday functions, e.g. region = 'North'",
        ) from None
    return tree


_PART = re.compile(r'"((?:[^"]|"")*)"|([^."]+)')


def _split_column(qualified: str) -> tuple[str, str]:
    """``layer.table.column`` → (``layer.table``, ``column``); lineage quotes keywords (``"timestamp"``)."""
    parts = [
        (quoted.replace('""', '"') if quoted else plain)
        for quoted, plain in _PART.findall(qualified)
    ]
    if len(parts) < 2:
        return "", qualified
    return ".".join(parts[:-1]).lower(), parts[-1]


def lake_columns(lake: Lake) -> Mapping[str, Sequence[str]]:
    """Every lake table's current columns, ``layer.name`` → names, each read when first asked."""
    return LakeColumns(lake)


class LakeColumns(Mapping[str, Sequence[str]]):
    """The lake's tables by name; a table's schema is loaded only when its columns are asked for.

    A query reads a few tables: the policy should not load every table's metadata to
    answer it (on a 60-table lake that was most of a command's time).
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._names: list[str] | None = None
        self._loaded: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def _tables(self) -> list[str]:
        with self._lock:
            if self._names is None:
                self._names = [f"{layer}.{name}" for layer, name in self.lake.tables()]
            return self._names

    def __getitem__(self, dataset: str) -> Sequence[str]:
        if dataset not in self._tables():
            raise KeyError(dataset)
        with self._lock:
            loaded = self._loaded.get(dataset)
        if loaded is None:
            layer, name = dataset.split(".", 1)
            loaded = tuple(self.lake.arrow_schema(layer, name).names)
            with self._lock:
                self._loaded[dataset] = loaded
        return loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables())

    def __len__(self) -> int:
        return len(self._tables())
