"""Who may see what, and reading the project as a principal: queries and KPIs, each audited.

Every query and KPI goes through the gateway (grants, column masks, row
filters) and leaves one audit record, allowed or denied, with the reason, the
datasets it touched, the rows it returned and how long it took. What a role
may not read is answered as not found: a caller learns nothing about what
exists beyond its grants.

The policy follows the lake and the model runs: a new table, or a model
rebuilt (its column lineage, and so its columns' classification, may
differ), makes a new policy and gateway on the next read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar, Unpack

import pyarrow as pa
import sqlglot

from weir.engine import EngineError
from weir.errors import (
    AccessDenied,
    AuthError,
    NotFoundError,
    QueryError,
    TooLarge,
    WeirError,
)
from weir.governance.gateway import Gateway
from weir.governance.keys import WriteKeys
from weir.governance.masks import mask_key
from weir.governance.policy import Policy, Principal, lake_columns
from weir.governance.queries import GatewayQueries, QueryResult
from weir.governance.sqlcheck import check_tree, lake_tables, parse_query
from weir.governance.tokens import Tokens
from weir.ingest.service import quarantine_query
from weir.lake import Lake, LakeViews, Pin
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog, AuditRecord, VerifyResult
from weir.metadata.keys import KeyStore
from weir.metrics import KpiDefinition, KpiQuestion, kpi_sql
from weir.metrics.experiments import EXPERIMENT_KPI, Experiment, experiment_report
from weir.metrics.query import KpiOptions
from weir.metrics.service import Kpis, marts_of
from weir.project import ProjectFiles
from weir.transform import RunLog
from weir.transform.model import tables_read

T = TypeVar("T")

KPI_ROWS = 100_000  # the rows a KPI answer holds at most (``truncated`` says when more existed)


class Access:
    """Roles, grants, credentials, and the project read as a principal."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        store: MetadataStore,
        audit: AuditLog,
        kpis: Kpis,
        keys: KeyStore | None = None,
    ) -> None:
        """``keys``: the project's key store (by default the audit log's)."""
        self.files = files
        self.lake = lake
        self.store = store
        self.audit = audit
        self.kpis_service = kpis
        self.keys = keys if keys is not None else audit.keys
        self._runs = RunLog(store)
        self._governance: tuple[object, Policy, Gateway, GatewayQueries] | None = None

    # -- the policy and its gateway ------------------------------------------------------
    def policy(self) -> Policy:
        """Roles, grants and column classification, as of the files and the latest builds."""
        return self._governed()[1]

    def gateway(self) -> Gateway:
        """The SQL gateway: a query as a principal, checked and rewritten to its grants."""
        return self._governed()[2]

    def queries(self) -> GatewayQueries:
        """Runs what the gateway checked, in locked sessions over the lake."""
        return self._governed()[3]

    def _governed(self) -> tuple[object, Policy, Gateway, GatewayQueries]:
        stamp = (
            tuple(self.lake.tables()),
            tuple(sorted((m, s.run_id) for m, s in self._runs.states().items())),
        )
        if self._governance is None or self._governance[0] != stamp:
            policy = Policy(self.files, self._runs.lineage(), lake_columns(self.lake))
            gateway = Gateway(policy, self.lake.engine.parser())
            queries = GatewayQueries(gateway, self.lake, mask_key(self.keys))
            self._governance = (stamp, policy, gateway, queries)
        return self._governance

    # -- credentials ------------------------------------------------------------------------
    def tokens(self) -> Tokens:
        """API tokens: created for a user and role, shown once, revocable."""
        return Tokens(self.store, self.policy(), self.audit)

    def write_keys(self) -> WriteKeys:
        """The write keys trackers post events to the collector with."""
        return WriteKeys(self.store)

    # -- reading as a principal ---------------------------------------------------------------
    def query(
        self,
        sql: str,
        user: str | Principal,
        role: str | None = None,
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        """Run ``sql`` as the principal; the audit log records it whatever the outcome."""
        return self._read(sql, sql, user, role, as_of, limit, trusted=False, shape=_as_is)

    def answer(
        self,
        sql: str,
        principal: Principal,
        shape: Callable[[QueryResult], T],
        as_of: datetime | str | None = None,
        limit: int | None = None,
    ) -> T:
        """``query``, with its result made into an answer by ``shape`` (e.g. JSON for the API).

        The answer is made while the query's audit record is committed, and is
        returned only once the record is on disk: an answered query is on the
        record, and the time to write the answer hides the wait for the disk.
        """
        return self._read(sql, sql, principal, None, as_of, limit, trusted=False, shape=shape)

    def quarantine(
        self,
        principal: Principal,
        source: str,
        reason: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> QueryResult:
        """The records of ``source`` held in quarantine, as the principal may see them.

        Through the gateway like any query (the role needs a grant on
        ``quarantine.SOURCE``; masks apply), and audited; ``reason`` keeps the
        records one of whose reasons contains it.
        """
        self.files.source(source)  # an unknown source fails with the closest name
        if not self.lake.exists("quarantine", source):
            raise NotFoundError(
                f"nothing of {source} is in quarantine",
                "every record of it passed its contract so far",
                kind="dataset",
                name=f"quarantine.{source}",
            )
        action = f"quarantine {source}" + (f" reason={reason}" if reason else "")
        sql = quarantine_query(source, reason, limit, offset).sql("duckdb")
        return self._read(sql, action, principal, None, None, None, trusted=True, shape=_as_is)

    def _read(
        self,
        sql: str,
        action: str,
        user: str | Principal,
        role: str | None,
        as_of: datetime | str | None,
        limit: int | None,
        trusted: bool,
        shape: Callable[[QueryResult], T],
    ) -> T:
        """Check, run and audit ``sql`` as the principal (``trusted``: SQL weir wrote itself).

        ``shape`` makes the answer of the result, while the record commits.
        """
        started = time.perf_counter()
        name = user.user if isinstance(user, Principal) else user
        acting = user.role if isinstance(user, Principal) else role
        _, policy, _, queries = self._governed()
        try:
            principal = user if isinstance(user, Principal) else policy.principal(user, role)
            acting = principal.role
            prepared = queries.prepare(sql, principal, Pin.at(as_of).as_of, trusted)
        except WeirError as exc:
            # refused before it ran: the user, the role, the SQL or a table it names
            self.audit.append(
                _refusal("query", action, name, acting, exc, started, _tables(sql), denied=True)
            )
            raise
        try:
            result = queries.run(prepared, limit=limit)
        except WeirError as exc:
            # allowed, then failed in the engine
            self.audit.append(
                _refusal(
                    "query", action, name, acting, exc, started, prepared.datasets, denied=False
                )
            )
            raise
        if shape is _as_is:  # nothing to do while the record commits
            self.audit.append(_success("query", action, principal, result))
            return shape(result)
        recorded = self.audit.append_soon(_success("query", action, principal, result))
        try:
            shaped = shape(result)
        finally:
            recorded.result()  # the answer leaves only once its record is committed
        return shaped

    def kpis(self, principal: Principal) -> list[KpiDefinition]:
        """The KPIs whose marts the principal's role may read."""
        policy = self.policy()
        return [
            k
            for k in self.kpis_service.definitions()
            if all(policy.can_read(principal.role, m) for m in marts_of(k))
        ]

    def kpi(
        self,
        principal: Principal,
        name: str,
        grain: str = "day",
        by: Sequence[str] = (),
        limit: int | None = KPI_ROWS,
        **options: Unpack[KpiOptions],
    ) -> QueryResult:
        """A KPI as the principal: its SQL through the gateway, so masks and row filters apply."""
        action = _kpi_action(name, grain, by, options)

        def question(definition: KpiDefinition) -> KpiQuestion:
            return self.kpis_service.question(definition, grain, by, **options)

        result, asked = self._kpi(principal, name, question, action, limit, options.get("as_of"))
        return replace(result, table=self.kpis_service.finish(asked.kpi, result.table))

    def experiment(
        self,
        principal: Principal,
        name: str,
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        as_of: datetime | str | None = None,
    ) -> QueryResult:
        """An A/B test over its run as the principal (``Kpis.experiment``, through the gateway).

        It reads what its KPI reads, so a role that may not read that KPI's mart
        is answered not found, and the audit log records it like a KPI.
        """
        parts = [
            f"experiment {name}",
            *(
                f"{k}={v}"
                for k, v in (("by", ",".join(by)), ("from", start), ("to", end), ("as_of", as_of))
                if v
            ),
        ]
        found: list[Experiment] = []

        def question(definition: KpiDefinition) -> KpiQuestion:
            experiment, asked = self.kpis_service.experiment_question(name, by, start, end)
            found.append(experiment)
            return asked

        known = self.kpis_service.experiments().get(name)
        kpi_name = known.kpi if known is not None else EXPERIMENT_KPI
        result, asked = self._kpi(principal, kpi_name, question, " ".join(parts), KPI_ROWS, as_of)
        if result.truncated:  # the sums would miss rows: no answer rather than a wrong one
            raise TooLarge(
                f"experiment {name} from {asked.start} to {asked.end} has more than "
                f"{KPI_ROWS:,} daily rows to add up",
                "narrow the range (from, to) or ask without by",
            )
        report = experiment_report(result.table, found[0], asked.start, asked.by[2:])
        return replace(result, table=report)

    def _kpi(
        self,
        principal: Principal,
        name: str,
        ask: Callable[[KpiDefinition], KpiQuestion],
        action: str,
        limit: int | None,
        as_of: datetime | str | None,
    ) -> tuple[QueryResult, KpiQuestion]:
        """Ask the KPI ``name`` (``ask`` makes the question), checked, run and audited."""
        started = time.perf_counter()
        definition = self.kpis_service.catalogue().kpis.get(name)
        _, policy, _, queries = self._governed()
        hidden = checking = False
        try:
            if definition is None:
                raise self._no_kpi(principal, name)
            hidden = not all(policy.can_read(principal.role, m) for m in marts_of(definition))
            if hidden:
                raise AccessDenied(f"role '{principal.role}' may not read {definition.mart}")
            question = ask(definition)
            moment = Pin.at(as_of).as_of
            checking = True
            prepared = queries.prepare(kpi_sql(question), principal, as_of=moment, trusted=True)
        except WeirError as exc:
            marts = marts_of(definition) if definition is not None else ()
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
            result = queries.run(prepared, limit=limit)
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
        return result, question

    def _no_kpi(self, principal: Principal, name: str) -> NotFoundError:
        """Not found, with the closest KPI the role may read (the same for a hidden one)."""
        readable = [k.name for k in self.kpis(principal)]
        return NotFoundError.among("kpi", name, readable, "list them at /api/v1/kpis", "KPI")

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
        self._admin_only(principal)
        return self.audit.records(kind, user, allowed, before, limit)

    def verify_audit(self, principal: Principal) -> VerifyResult:
        """Walk the audit log's hash chain (``weir audit verify``); only for an admin role."""
        self._admin_only(principal)
        return self.audit.verify()

    def _admin_only(self, principal: Principal) -> None:
        if not self.policy().is_admin(principal.role):
            raise AccessDenied(
                f"role {principal.role} may not read the audit log",
                "ask for a token of a role with admin: true in weir.yml",
            )

    # -- the owner's SQL -----------------------------------------------------------------------
    def sql(
        self, query: str, as_of: datetime | str | None = None, snapshot: int | None = None
    ) -> pa.Table:
        """Run a read-only query over the lake's tables (``raw.pos``, ``staging.pos`` …) in clear.

        For the project's owner at a terminal: the same checks as the gateway
        (one read query of allow-listed parts over lake tables), no grants and no
        masks, as the lake is now, was at ``as_of``, or at a table's ``snapshot``.
        """
        try:
            refs = lake_tables(check_tree(parse_query(query)), _Everything())
        except AccessDenied as exc:  # no grant is at stake: the query is what is refused
            raise QueryError(exc.what, exc.fix) from None
        # a name that is no lake table is left to the engine, which says so
        known = {f"{layer}.{name}" for layer, name in self.lake.tables()}
        datasets = sorted({ref.dataset for ref in refs} & known)
        views = LakeViews(self.lake)
        try:
            session, _ = views.session(datasets, Pin.at(as_of, snapshot))
            try:
                return views.run(session, query, timeout=None)[0]
            finally:
                session.close()
        except EngineError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise QueryError(
                f"query failed: {first}", "check the SQL; list tables with `weir status`"
            ) from None
        finally:
            views.close()

    def close(self) -> None:
        if self._governance is not None:
            self._governance[2].close()
            self._governance[3].close()


class _Everything:
    """Every ``layer.table`` name (the owner's SQL may name any)."""

    def __contains__(self, dataset: object) -> bool:
        return True


def _as_is(result: QueryResult) -> QueryResult:
    return result


def _tables(sql: str) -> tuple[str, ...]:
    """The tables a refused query named, as far as it parses (for the audit record)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except (sqlglot.errors.SqlglotError, ValueError):
        return ()
    return tuple(sorted(t for t in tables_read(tree) if "." in t))


def _kpi_action(name: str, grain: str, by: Sequence[str], options: KpiOptions) -> str:
    parts = [f"kpi {name}", f"grain={grain}"]
    for label, value in (
        ("by", ",".join(by)),
        ("from", options.get("start")),
        ("to", options.get("end")),
        ("compare", options.get("compare")),
        ("as_of", options.get("as_of")),
    ):
        if value:
            parts.append(f"{label}={value}")
    if options.get("exclude_flagged"):
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
