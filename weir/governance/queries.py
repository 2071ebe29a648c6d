"""Running what the gateway checked: the fourth wall, and the engine's errors in the gateway's words.

``GatewayQueries.query`` asks the gateway for the checked SQL and runs it in
a locked read session of the engine whose views (under the gateway's secret
prefix) show the tables at the asked version. A query the gateway checked
before for the same role runs again without a parse, unless a table's
columns changed since. The masking key reaches the session as a variable the
SQL cannot read back.

An engine's message can carry a data value (a failed cast prints it) or the
rewritten SQL, so none is passed on as it is.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from weir.engine import (
    BindError,
    ConversionError,
    EngineError,
    InvalidInput,
    OutOfMemory,
    Session,
)
from weir.errors import QueryError, WeirError
from weir.governance.gateway import CheckedQuery, Gateway, datasets_of
from weir.governance.masks import KEY_VARIABLE
from weir.governance.policy import Principal
from weir.lake import Lake, LakeViews, Pin, Timeout


@dataclass(frozen=True)
class PreparedQuery:
    """A query the gateway checked and rewrote, on a session ready to run it once."""

    session: Session
    sql: str  # the rewritten SQL (never shown to users)
    datasets: tuple[str, ...]
    check_ms: float
    original: str  # the SQL as sent, for the wording of an engine error


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    datasets: tuple[str, ...]
    check_ms: float
    run_ms: float
    truncated: bool  # more rows existed than `limit`


class GatewayQueries:
    """Runs SQL for a principal: checked by the gateway, in a locked session over the lake."""

    def __init__(
        self,
        gateway: Gateway,
        lake: Lake,
        key: bytes,
        memory_limit: str = "2GB",
        threads: int = 2,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the masking key must be at least 16 bytes")
        self.gateway = gateway
        self.lake = lake
        self.views = LakeViews(
            lake, gateway.prefix, memory_limit, threads, {KEY_VARIABLE: key.hex()}
        )

    def query(
        self,
        sql: str,
        principal: Principal,
        as_of: datetime | None = None,
        limit: int | None = None,
        timeout: float = 30.0,
        trusted: bool = False,
    ) -> QueryResult:
        """Run ``sql`` for ``principal`` on the lake as it is now (or was at ``as_of``)."""
        return self.run(self.prepare(sql, principal, as_of, trusted), limit, timeout)

    def prepare(
        self,
        sql: str,
        principal: Principal,
        as_of: datetime | None = None,
        trusted: bool = False,
    ) -> PreparedQuery:
        """Check and rewrite ``sql`` for ``principal``: AccessDenied or QueryError when refused.

        What this raises is a refusal (the query never reaches the engine); what
        ``run`` raises is a failure of a query the gateway allowed.
        """
        started = time.perf_counter()
        gateway, policy = self.gateway, self.gateway.policy
        checked = gateway.cached(sql, principal, trusted)
        if checked is not None and as_of is None:
            # checked before: the same SQL runs, unless a table's columns changed since
            check_ms = _ms(started)
            session, columns = self.views.session(checked.datasets)
            if all(tuple(columns[d]) == policy.columns(d) for d in checked.datasets):
                return PreparedQuery(session, checked.sql, checked.datasets, check_ms, sql)
            session.close()
        tree, refs = gateway.analyse(sql, principal, trusted, _LakeNames(gateway.known, self.lake))
        check_ms = _ms(started)
        datasets = datasets_of(refs)
        # an old snapshot gets a session of its own; the current policy still applies
        session, columns = self.views.session(datasets, Pin(as_of=as_of))
        try:
            begun = time.perf_counter()
            rewritten = gateway.rewrite(tree, refs, principal.role, columns)
            check_ms += _ms(begun)
            if as_of is None and all(tuple(columns[d]) == policy.columns(d) for d in datasets):
                gateway.remember(
                    (sql, principal.role, trusted), CheckedQuery(rewritten, datasets, 0)
                )
        except BaseException:
            session.close()
            raise
        return PreparedQuery(session, rewritten, datasets, check_ms, sql)

    def run(
        self, prepared: PreparedQuery, limit: int | None = None, timeout: float = 30.0
    ) -> QueryResult:
        """Run a prepared query once (its session is closed after): QueryError when it fails."""
        try:
            begun = time.perf_counter()
            try:
                table, truncated = self.views.run(prepared.session, prepared.sql, limit, timeout)
            except Timeout:
                raise QueryError(
                    f"the query ran longer than {timeout:g}s and was stopped",
                    "narrow it: filter by day, aggregate, or add a LIMIT",
                ) from None
            except EngineError as exc:
                raise _safe_error(exc, prepared.original, self.gateway.prefix) from None
            return QueryResult(table, prepared.datasets, prepared.check_ms, _ms(begun), truncated)
        finally:
            prepared.session.close()

    def session(self, datasets: list[str], as_of: datetime | None = None) -> Session:
        """A locked session with the views of ``datasets`` (at ``as_of``) only, as queries get."""
        return self.views.session(datasets, Pin(as_of=as_of))[0]

    def close(self) -> None:
        self.views.close()


class _LakeNames:
    """The lake's tables as the policy knew them, and any made since (listed only when asked)."""

    def __init__(self, known: frozenset[str], lake: Lake) -> None:
        self.known = known
        self.lake = lake
        self.listed: frozenset[str] | None = None

    def __contains__(self, dataset: Any) -> bool:
        if dataset in self.known:
            return True
        if self.listed is None:
            self.listed = frozenset(f"{layer}.{name}" for layer, name in self.lake.tables())
        return dataset in self.listed


_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _safe_error(error: EngineError, original: str, namespace: str) -> WeirError:
    """The engine's failure in the gateway's words: never a data value, never the rewritten SQL."""
    if isinstance(error, ConversionError):
        return QueryError(
            "a value could not be converted to the type the query asks for",
            "use TRY_CAST, or check the column's type in the catalog (masked columns are text)",
        )
    if isinstance(error, OutOfMemory):
        return QueryError(
            "the query needs more memory than a query may use",
            "aggregate or filter before joining, or add a LIMIT",
        )
    if isinstance(error, BindError):
        first = error.what.strip().splitlines()[0] if error.what.strip() else ""
        first = first.split(": ", 1)[-1]
        lowered = original.lower()

        def keep_if_asked(match: re.Match[str]) -> str:
            # a name the query itself wrote can be repeated; anything else cannot
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            return match.group(0) if inner and inner.lower() in lowered else "…"

        detail = _QUOTED.sub(keep_if_asked, first.replace(namespace, ""))[:200]
        return QueryError(
            f"the query does not fit the tables it reads: {detail}",
            "check column names and types in the catalog",
        )
    if isinstance(error, InvalidInput):
        return QueryError(
            "a function got a value out of its range or of the wrong form",
            "check the arguments of the functions in the query",
        )
    return QueryError("the query failed in the engine", "simplify the query, or ask the data team")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
