"""Reading a project as a principal: queries, KPIs, the catalog and lineage, each within its grants.

Every query and KPI goes through the gateway (grants, column masks, row
filters) and leaves one audit record, allowed or denied, with the reason, the
datasets it touched, the rows it returned and how long it took. Datasets a
role may not read are answered as not found: a caller learns nothing about
what exists beyond its grants.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import sqlglot

from weir.errors import AccessDenied, AuthError, NotFoundError, QueryError, WeirError
from weir.governance.audit import AuditEntry, AuditLog, AuditRecord
from weir.governance.gateway import Gateway, QueryResult
from weir.governance.policy import Policy, Principal
from weir.lake import Lake
from weir.metadata import MetadataStore
from weir.metrics import GRAINS, KpiDefinition, KpiQuestion, kpi_sql, load_catalogue
from weir.metrics.definitions import Figure
from weir.metrics.flags import DayFlags
from weir.metrics.query import Compare
from weir.project import ProjectFiles
from weir.transform import ModelGraph, RunLog
from weir.transform.lineage import dataset_lineage
from weir.transform.model import Model, load_models, tables_read

_INGESTED = ("raw", "staging", "quarantine")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    classification: str | None
    description: str


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # layer.table
    layer: str
    owner: str
    description: str
    columns: tuple[ColumnInfo, ...] = ()
    freshness: datetime | None = None  # when its newest snapshot was committed
    row_count: int | None = None
    snapshot_id: int | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing: ``next_offset`` is None on the last page."""

    items: tuple[Any, ...]
    total: int
    offset: int
    next_offset: int | None


class GovernedReader:
    """What one project shows a principal, and the audit of every read."""

    def __init__(
        self,
        policy: Callable[[], Policy],
        gateway: Callable[[], Gateway],
        audit: AuditLog,
        lake: Lake,
        files: ProjectFiles,
        store: MetadataStore,
        graph: Callable[[], ModelGraph],
    ) -> None:
        # the project's current ones: a run can add tables and change lineage
        self._policy = policy
        self._gateway = gateway
        self.audit = audit
        self.lake = lake
        self.files = files
        self.store = store
        self.graph = graph

    @property
    def policy(self) -> Policy:
        return self._policy()

    @property
    def gateway(self) -> Gateway:
        return self._gateway()

    # -- queries ---------------------------------------------------------------------
    def principal(self, user: str | Principal, role: str | None = None) -> Principal:
        return user if isinstance(user, Principal) else self.policy.principal(user, role)

    def query(
        self,
        sql: str,
        user: str | Principal,
        role: str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        """Run ``sql`` as the principal; the audit log records it whatever the outcome."""
        started = time.perf_counter()
        name = user.user if isinstance(user, Principal) else user
        acting = user.role if isinstance(user, Principal) else role
        try:
            principal = self.principal(user, role)
            acting = principal.role
            prepared = self.gateway.prepare(sql, principal, as_of=_moment(as_of))
        except WeirError as exc:
            # refused before it ran: the user, the role, the SQL or a table it names
            self.audit.append(
                _refusal("query", sql, name, acting, exc, started, _tables(sql), denied=True)
            )
            raise
        try:
            result = self.gateway.run(prepared, limit=limit)
        except WeirError as exc:
            # allowed, then failed in the engine
            self.audit.append(
                _refusal("query", sql, name, acting, exc, started, prepared.datasets, denied=False)
            )
            raise
        self.audit.append(_success("query", sql, principal, result))
        return result

    def kpis(self, principal: Principal) -> list[KpiDefinition]:
        """The KPIs whose marts the principal's role may read."""
        kpis = load_catalogue(self.files.root).kpis.values()
        policy = self.policy
        return sorted(
            (k for k in kpis if all(policy.can_read(principal.role, m) for m in _marts(k))),
            key=lambda k: (k.team, k.name),
        )

    def kpi(
        self,
        principal: Principal,
        name: str,
        grain: str = "day",
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        compare: str | None = None,
        exclude_flagged: bool = False,
        as_of: datetime | str | None = None,
    ) -> QueryResult:
        """A KPI as the principal: its SQL through the gateway, so masks and row filters apply."""
        started = time.perf_counter()
        action = _kpi_action(name, grain, by, start, end, compare, exclude_flagged, as_of)
        definition = load_catalogue(self.files.root).kpis.get(name)
        hidden = False
        checking = False
        try:
            if definition is None:
                raise self._no_kpi(principal, name)
            hidden = not self._may_read_all(principal, _marts(definition))
            if hidden:
                raise AccessDenied(f"role '{principal.role}' may not read {definition.mart}")
            if grain not in GRAINS:
                raise QueryError(f"unknown grain {grain}", f"use one of {', '.join(GRAINS)}")
            if compare not in (None, "previous_period"):
                raise QueryError(f"unknown comparison {compare}", "use previous_period")
            if start is not None and end is not None and start > end:
                raise QueryError(f"from ({start}) is after to ({end})", "swap them")
            flagged = (
                tuple(day for day, _, _ in DayFlags(self.store).days()) if exclude_flagged else None
            )
            question = KpiQuestion(
                definition,
                grain,
                tuple(by),
                start,
                end,
                cast(Compare | None, compare),
                flagged,
            )
            sql = kpi_sql(question)
            moment = _moment(as_of)
            checking = True
            prepared = self.gateway.prepare(sql, principal, as_of=moment, trusted=True)
        except WeirError as exc:
            marts = _marts(definition) if definition is not None else ()
            # what the gateway refuses is a denial; a question weir cannot ask, a failure
            denied = checking or isinstance(exc, AccessDenied | AuthError)
            self.audit.append(
                _refusal("kpi", action, principal.user, principal.role, exc, started, marts, denied)
            )
            if hidden:
                # recorded as denied; answered as not found, like a dataset outside the grants
                raise self._no_kpi(principal, name) from None
            raise
        try:
            result = self.gateway.run(prepared)
        except WeirError as exc:
            self.audit.append(
                _refusal(
                    "kpi",
                    action,
                    principal.user,
                    principal.role,
                    exc,
                    started,
                    prepared.datasets,
                    denied=False,
                )
            )
            raise
        self.audit.append(_success("kpi", action, principal, result))
        return result

    def audit_records(
        self,
        principal: Principal,
        kind: str | None = None,
        user: str | None = None,
        allowed: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """The audit log, newest first; only for an admin role."""
        if not self.policy.is_admin(principal.role):
            raise AccessDenied(
                f"role {principal.role} may not read the audit log",
                "ask for a token of a role with admin: true in weir.yml",
            )
        return self.audit.records(kind, user, allowed, before, limit)

    # -- the catalog -------------------------------------------------------------------
    def datasets(self, principal: Principal, offset: int = 0, limit: int = 100) -> Page:
        """The datasets the principal's role may read, by name, one page at a time."""
        visible = self._visible(principal)
        chosen = visible[offset : offset + limit]
        models = load_models(self.files.root)  # parsed once for the page, not per dataset
        items = tuple(self._describe(name, models, detailed=False) for name in chosen)
        following = offset + len(chosen)
        return Page(items, len(visible), offset, following if following < len(visible) else None)

    def dataset(self, principal: Principal, name: str) -> DatasetInfo:
        """One dataset's schema (with each column's classification), owner, freshness and size."""
        visible = self._visible(principal)
        if name not in visible:
            raise _no_dataset(name, visible)
        return self._describe(name, load_models(self.files.root), detailed=True)

    def lineage(self, principal: Principal, name: str) -> dict[str, object]:
        """Upstream and downstream of a dataset (or column), leaving out what the role cannot see."""
        table = ".".join(name.split(".")[:2])
        visible = self._visible(principal)
        if table not in visible:
            raise _no_dataset(name, visible)
        column = ".".join(name.split(".")[2:])
        if column and column not in self.lake.arrow_schema(*table.split(".")).names:
            raise NotFoundError(
                f"{table} has no column {column}",
                f"see its columns at /api/v1/datasets/{table}",
                kind="column",
                name=name,
            )
        found = dataset_lineage(self.graph(), RunLog(self.store).lineage(), name)

        policy = self.policy

        def seen(items: object) -> list[str]:
            names = cast(list[str], items)
            return [n for n in names if policy.can_read(principal.role, _table_of(n))]

        return {
            "dataset": found["dataset"],
            "upstream": seen(found["upstream"]),
            "downstream": seen(found["downstream"]),
        }

    def _no_kpi(self, principal: Principal, name: str) -> NotFoundError:
        """Not found, with the closest KPI the role may read (the same for a hidden one)."""
        close = difflib.get_close_matches(name, [k.name for k in self.kpis(principal)], n=1)
        return NotFoundError(
            f"no KPI named {name}",
            f"did you mean {close[0]}?" if close else "list them at /api/v1/kpis",
            kind="kpi",
            name=name,
            suggestion=close[0] if close else None,
        )

    def _visible(self, principal: Principal) -> list[str]:
        available = [f"{layer}.{name}" for layer, name in self.lake.tables()]
        return sorted(self.policy.datasets(principal.role, available))

    def _may_read_all(self, principal: Principal, datasets: Sequence[str]) -> bool:
        policy = self.policy
        return all(policy.can_read(principal.role, d) for d in datasets)

    def _describe(self, name: str, models: Mapping[str, Model], detailed: bool) -> DatasetInfo:
        layer, _, table = name.partition(".")
        owner, description, column_notes = self._definition(layer, table, models)
        if not detailed:
            return DatasetInfo(name, layer, owner, description)
        classes = self.policy.classification(name)
        columns = tuple(
            ColumnInfo(
                field.name,
                str(field.type),
                classes.get(field.name),
                column_notes.get(field.name, ""),
            )
            for field in self.lake.arrow_schema(layer, table)
        )
        snapshot = self.lake.table(layer, table).current_snapshot()
        if snapshot is None:
            return DatasetInfo(name, layer, owner, description, columns, None, 0, None)
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        total = summary.get("total-records")
        return DatasetInfo(
            name,
            layer,
            owner,
            description,
            columns,
            datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
            int(total) if total is not None else None,
            snapshot.snapshot_id,
        )

    def _definition(
        self, layer: str, table: str, models: Mapping[str, Model]
    ) -> tuple[str, str, dict[str, str]]:
        """Owner, description and column descriptions, from the source or the model file."""
        if layer in _INGESTED and table in self.files.sources:
            source = self.files.source(table)
            notes = {c.name: c.description for c in source.columns}
            return source.owner, source.description, notes
        model = models.get(f"{layer}.{table}")
        if model is not None:
            return model.header.owner, model.header.description, {}
        return "data", "", {}


def _no_dataset(name: str, visible: Sequence[str]) -> NotFoundError:
    """Not found, with the closest dataset the role may read (never one it may not)."""
    close = difflib.get_close_matches(name, visible, n=1)
    return NotFoundError(
        f"no dataset named {name}",
        f"did you mean {close[0]}?" if close else "list them at /api/v1/datasets",
        kind="dataset",
        name=name,
        suggestion=close[0] if close else None,
    )


def _moment(value: datetime | str | None) -> datetime | None:
    """A point in time with its zone (local time when none is given); QueryError when out of range."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment is not None and moment.tzinfo is None:
            moment = moment.astimezone()
        if moment is not None:
            moment.timestamp()  # beyond what the platform's clock can represent
    except (ValueError, OverflowError, OSError):
        raise QueryError(
            f"as_of {value} is not a usable time", "write an ISO time, e.g. 2025-02-01T09:00:00"
        ) from None
    return moment


def _marts(kpi: KpiDefinition) -> tuple[str, ...]:
    figures = [f.mart for f in kpi.secondary.values() if isinstance(f, Figure)]
    return tuple(sorted({kpi.mart, *figures}))


def _table_of(name: str) -> str:
    return ".".join(name.split(".")[:2])


def _tables(sql: str) -> tuple[str, ...]:
    """The tables a refused query named, as far as it parses (for the audit record)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except (sqlglot.errors.SqlglotError, ValueError):
        return ()
    return tuple(sorted(t for t in tables_read(tree) if "." in t))


def _kpi_action(
    name: str,
    grain: str,
    by: Sequence[str],
    start: date | None,
    end: date | None,
    compare: str | None,
    exclude_flagged: bool,
    as_of: datetime | str | None,
) -> str:
    parts = [f"kpi {name}", f"grain={grain}"]
    for label, value in (
        ("by", ",".join(by)),
        ("from", start),
        ("to", end),
        ("compare", compare),
        ("as_of", as_of),
    ):
        if value:
            parts.append(f"{label}={value}")
    if exclude_flagged:
        parts.append("exclude_flagged")
    return " ".join(parts)


def _success(kind: Any, action: str, principal: Principal, result: QueryResult) -> AuditEntry:
    return AuditEntry(
        kind,
        action,
        principal.user,
        principal.role,
        result.datasets,
        result.table.num_rows,
        result.check_ms + result.run_ms,
        True,
        "truncated at the row limit" if result.truncated else None,
    )


def _refusal(
    kind: Any,
    action: str,
    user: str,
    role: str | None,
    error: WeirError,
    started: float,
    datasets: Sequence[str],
    denied: bool,
) -> AuditEntry:
    """A query refused (denied, never run) or one that failed while it ran."""
    return AuditEntry(
        kind,
        action,
        user,
        role,
        tuple(datasets),
        None,
        (time.perf_counter() - started) * 1000,
        not denied,
        f"{'denied' if denied else 'failed'}: {error.what}",
    )
