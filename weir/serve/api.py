"""The HTTP API ``/api/v1``: SQL, KPIs, the catalog, lineage and the audit log, as a principal.

Every route authenticates a bearer token (``weir token create``) — a route with
a body before the body is read, which is then read to at most ``MAX_BODY``
bytes (413 past it) — and makes one call into the library (``weir.governance.reader``), which applies the role's
grants, masks and row filters and writes the audit record. Routes are plain
functions: FastAPI runs them in its thread pool, and the gateway gives each
query its own DuckDB cursor (an old snapshot its own connection). Results leave as JSON (values made JSON-safe: dates as ISO
text, decimals as numbers, bytes as base64, NaN and infinities as null, a time
or date outside Python's years 1 to 9999 as text: ``infinity``, ``-infinity``
or Arrow's rendering such as ``0000-12-31 00:00:00.000000``) or as
an Arrow IPC stream when asked with ``Accept: application/vnd.apache.arrow.stream``.
"""

import base64
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator, Field, StrictInt

from weir.errors import QueryError, TooLarge
from weir.governance.policy import Principal
from weir.metadata.audit import AuditKind
from weir.metrics.query import KpiOptions
from weir.project.base import Strict
from weir.serve.problems import error_responses
from weir.serve.routing import MAX_BODY, api_v1_router, caller_of
from weir.workspace import Project

ARROW_STREAM = "application/vnd.apache.arrow.stream"
DEFAULT_ROWS = 10_000
MAX_ROWS = 100_000
MAX_SQL = 100_000  # characters of one query


# -- ISO 8601 dates and times, and nothing else ------------------------------------------
# Pydantic would also read a number (or a string of digits) as a Unix timestamp: `to=0`
# would be 1970-01-01. A date or time here is ISO text, as the document says.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?"
)


def _iso(pattern: re.Pattern[str], example: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, date) or (isinstance(value, str) and pattern.fullmatch(value)):
            return value
        raise ValueError(f"write it in ISO 8601, e.g. {example}")

    return check


IsoDate = Annotated[date, BeforeValidator(_iso(_ISO_DATE, "2025-01-31"))]
IsoTime = Annotated[datetime, BeforeValidator(_iso(_ISO_TIME, "2025-01-31T12:00:00Z"))]


# -- requests and answers ------------------------------------------------------------------
class QueryRequest(Strict):
    sql: str = Field(min_length=1, description="one read-only query over lake tables (layer.name)")
    as_of: IsoTime | None = Field(
        default=None, description="read the lake as it was then (ISO 8601 time)"
    )
    limit: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_ROWS,
        description=f"rows to return at most (default {DEFAULT_ROWS:,}, at most {MAX_ROWS:,})",
    )


class Column(Strict):
    name: str
    type: str


class Table(Strict):
    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool


class KpiSummary(Strict):
    name: str
    team: str
    description: str
    mart: str
    dimensions: list[str]


class KpiList(Strict):
    kpis: list[KpiSummary]


class DatasetSummary(Strict):
    name: str
    layer: str
    owner: str
    description: str


class DatasetPage(Strict):
    datasets: list[DatasetSummary]
    total: int
    offset: int
    next_offset: int | None


class ColumnFinding(Strict):
    kind: str = Field(description="email, phone, card, iban, ip or address")
    matches: int = Field(description="sampled values that look like it (never a value)")
    sampled: int
    confidence: float


class DatasetColumn(Strict):
    name: str
    type: str
    classification: str | None
    description: str
    findings: list[ColumnFinding] = Field(
        default=[],
        description="personal data the latest scan found that no classification declares",
    )


class PiiFinding(ColumnFinding):
    dataset: str
    column: str
    classification: str | None
    flagged: bool
    scanned_at: datetime


class PiiFindings(Strict):
    findings: list[PiiFinding]


class DatasetDetail(DatasetSummary):
    columns: list[DatasetColumn]
    freshness: datetime | None = Field(description="when its newest snapshot was committed")
    row_count: int | None
    snapshot_id: int | None


class Lineage(Strict):
    dataset: str
    upstream: list[str]
    downstream: list[str]


class AuditItem(Strict):
    seq: int
    at: str
    kind: str
    user: str | None
    role: str | None
    action: str
    datasets: list[str]
    rows: int | None
    duration_ms: float | None
    allowed: bool
    reason: str | None
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str


class AuditPage(Strict):
    records: list[AuditItem]
    next_before: int | None = Field(description="pass as `before` for the next (older) page")


# the errors every /api/v1 route may answer, in the one shape
API_ERRORS = error_responses(
    {
        400: "the request was understood but cannot be answered (bad SQL, bad KPI question)",
        401: "no token, or a token unknown, revoked or expired",
        403: "the role may not do this",
        404: "no such thing, or nothing the role may see",
        413: "the request or the result is over a limit",
        422: "the request does not match this document",
    }
)


DatasetName = Annotated[str, Path(description="layer.name, e.g. marts.sales_daily", max_length=300)]


def api_router(project: Project, max_rows: int = MAX_ROWS) -> APIRouter:
    """The ``/api/v1`` routes of ``project``; ``max_rows`` caps any one query's answer."""
    tokens = project.access.tokens()
    Caller = Annotated[Principal, Depends(caller_of(tokens))]
    router = api_v1_router(tokens, API_ERRORS)

    @router.post(
        "/query",
        tags=["data"],
        summary="Run one read-only SQL query as the token's role",
        response_model=Table,
        responses={200: {"content": {ARROW_STREAM: {"schema": {"type": "string"}}}}},
    )
    def query(request: Request, body: QueryRequest, caller: Caller) -> Response:
        _check_size(request, body)
        limit = DEFAULT_ROWS if body.limit is None else body.limit
        if limit > max_rows:
            raise TooLarge(
                f"limit {limit:,} is over this server's maximum of {max_rows:,} rows",
                "page with LIMIT/OFFSET in the SQL, or ask for Arrow and fewer columns",
            )
        return project.access.answer(
            body.sql,
            caller,
            lambda result: _answer(request, result.table, result.truncated),
            as_of=body.as_of,
            limit=limit,
        )

    @router.get("/kpis", tags=["kpis"], summary="The KPIs the role may read")
    def kpis(caller: Caller) -> KpiList:
        return KpiList(
            kpis=[
                KpiSummary(
                    name=k.name,
                    team=k.team,
                    description=k.description,
                    mart=k.mart,
                    dimensions=list(k.dimensions),
                )
                for k in project.access.kpis(caller)
            ]
        )

    @router.get(
        "/kpis/{name}",
        tags=["kpis"],
        summary="One KPI by period (and dimensions)",
        response_model=Table,
        responses={200: {"content": {ARROW_STREAM: {"schema": {"type": "string"}}}}},
    )
    def kpi(
        request: Request,
        caller: Caller,
        name: Annotated[str, Path(max_length=200)],
        grain: Literal["day", "week", "month"] = "day",
        by: Annotated[list[str], Query(description="a dimension; repeatable")] = [],  # noqa: B006
        start: Annotated[IsoDate | None, Query(alias="from", description="first day")] = None,
        end: Annotated[IsoDate | None, Query(alias="to", description="last day")] = None,
        compare: Literal["previous_period"] | None = None,
        exclude_flagged: bool = False,
        as_of: Annotated[IsoTime | None, Query(description="the lake as it was then")] = None,
    ) -> Response:
        options: KpiOptions = {"start": start, "end": end, "compare": compare, "as_of": as_of}
        options["exclude_flagged"] = exclude_flagged
        result = project.access.kpi(caller, name, grain, by, limit=max_rows, **options)
        return _answer(request, result.table, result.truncated)

    @router.get(
        "/experiments/{name}",
        tags=["kpis"],
        summary="An A/B test over its run: each variant against control",
        response_model=Table,
        responses={200: {"content": {ARROW_STREAM: {"schema": {"type": "string"}}}}},
    )
    def experiment(
        request: Request,
        caller: Caller,
        name: Annotated[str, Path(max_length=200)],
        by: Annotated[
            list[str], Query(description="a further dimension (device_type); repeatable")
        ] = [],  # noqa: B006
        start: Annotated[IsoDate | None, Query(alias="from", description="first day")] = None,
        end: Annotated[IsoDate | None, Query(alias="to", description="last day")] = None,
        as_of: Annotated[IsoTime | None, Query(description="the lake as it was then")] = None,
    ) -> Response:
        """One row per variant (and `by` values): sessions, conversions, the conversion rate
        (`value`), sessions left out for seeing two variants, the lift over control, the 95 %
        interval of the difference (Newcombe), the z-test's p-value and the sessions per
        variant needed for the declared minimum detectable effect. The range defaults to the
        days the experiment declares (or all its data)."""
        result = project.access.experiment(caller, name, by, start, end, as_of)
        return _answer(request, result.table, result.truncated)

    @router.get("/datasets", tags=["catalog"], summary="The datasets the role may read")
    def datasets(
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    ) -> DatasetPage:
        page = project.catalog.datasets(caller, offset, limit)
        return DatasetPage(
            datasets=[
                DatasetSummary(name=d.name, layer=d.layer, owner=d.owner, description=d.description)
                for d in page.items
            ],
            total=page.total,
            offset=page.offset,
            next_offset=page.next_offset,
        )

    @router.get(
        "/datasets/{name}",
        tags=["catalog"],
        summary="A dataset's columns (with classification), owner, freshness and size",
    )
    def dataset(caller: Caller, name: DatasetName) -> DatasetDetail:
        d = project.catalog.dataset(caller, name)
        return DatasetDetail(
            name=d.name,
            layer=d.layer,
            owner=d.owner,
            description=d.description,
            columns=[
                DatasetColumn(
                    name=c.name,
                    type=c.type,
                    classification=c.classification,
                    description=c.description,
                    findings=[
                        ColumnFinding(
                            kind=f.kind,
                            matches=f.matches,
                            sampled=f.sampled,
                            confidence=f.confidence,
                        )
                        for f in c.findings
                    ],
                )
                for c in d.columns
            ],
            freshness=d.freshness,
            row_count=d.row_count,
            snapshot_id=d.snapshot_id,
        )

    @router.get(
        "/catalog/findings",
        tags=["catalog"],
        summary="What the latest scan found: personal data in columns not classified for it",
    )
    def findings(caller: Caller, all: bool = False) -> PiiFindings:
        return PiiFindings(
            findings=[
                PiiFinding(
                    dataset=f.dataset,
                    column=f.column,
                    kind=f.kind,
                    matches=f.matches,
                    sampled=f.sampled,
                    confidence=f.confidence,
                    classification=f.classification,
                    flagged=f.flagged,
                    scanned_at=datetime.fromtimestamp(f.scanned_at, UTC),
                )
                for f in project.catalog.findings(caller, all_kinds=all)
            ]
        )

    @router.get(
        "/lineage/{name}",
        tags=["catalog"],
        summary="Upstream and downstream of a dataset or a column, within what the role sees",
    )
    def lineage(caller: Caller, name: DatasetName) -> Lineage:
        found = project.catalog.lineage(caller, name)
        return Lineage.model_validate(found)

    @router.get("/audit", tags=["governance"], summary="The audit log, newest first (admin)")
    def audit(
        caller: Caller,
        kind: AuditKind | None = None,
        user: str | None = None,
        allowed: bool | None = None,
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> AuditPage:
        records = project.access.audit_records(caller, kind, user, allowed, before, limit)
        items = [AuditItem.model_validate(r.as_row()) for r in records]
        full = len(records) == limit and records[-1].seq > 1
        return AuditPage(records=items, next_before=records[-1].seq if full else None)

    return router


def _check_size(request: Request, body: QueryRequest) -> None:
    declared = request.headers.get("content-length", "0")
    if (declared.isdigit() and int(declared) > MAX_BODY) or len(body.sql) > MAX_SQL:
        raise TooLarge(
            f"the query is over {MAX_SQL:,} characters", "send a shorter query, or build a model"
        )


def _answer(request: Request, table: pa.Table, truncated: bool) -> Response:
    headers = {"X-Weir-Truncated": "true"} if truncated else None
    if ARROW_STREAM in request.headers.get("accept", ""):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM, headers=headers)
    body = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": json_rows(table),
        "row_count": table.num_rows,
        "truncated": truncated,
    }
    try:
        text = json.dumps(body, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # a value json_rows does not know yet
        raise QueryError(
            f"the result cannot be written as JSON: {exc}", f"ask for {ARROW_STREAM}"
        ) from None
    return Response(text, media_type="application/json", headers=headers)


def json_rows(table: pa.Table) -> list[list[Any]]:
    """The table's rows as lists of JSON-safe values."""
    columns = [_json_column(table.column(i)) for i in range(table.num_columns)]
    if not columns:
        return [[] for _ in range(table.num_rows)]
    return [list(row) for row in zip(*columns, strict=True)]


def _json_column(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    # the common types are converted by Arrow, column at a time; the rest value by value
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = pc.cast(column, pa.float64())
        column = pc.if_else(pc.is_finite(numbers), numbers, pa.scalar(None, pa.float64()))
    elif pa.types.is_date(kind):
        text = pc.cast(column, pa.string())
        if pc.any(pc.starts_with(text, "<")).as_py():  # Arrow's "<value out of range: …>"
            return [_json_scalar(value) for chunk in column.chunks for value in chunk]
        column = text
    elif pa.types.is_timestamp(kind) and (iso := _iso_timestamps(column)) is not None:
        return iso
    elif not (pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind)):
        try:
            values = column.to_pylist()
        except (OverflowError, ValueError):  # a time outside Python's years 1 to 9999
            return [_json_scalar(value) for chunk in column.chunks for value in chunk]
        return [_json_value(v) for v in values]
    found: list[Any] = column.to_pylist()
    return found


_UTC = (None, "UTC", "Etc/UTC", "+00:00")
_MICROS = (-62_135_596_800_000_000, 253_402_300_799_999_999)  # 0001-01-01 to 9999-12-31 in µs


def _iso_timestamps(column: pa.ChunkedArray) -> list[Any] | None:
    """A UTC or naive timestamp column as Python's ``isoformat`` writes it, made by Arrow.

    None for what Arrow should not write: another time zone (its offset moves),
    nanoseconds, or a value outside years 1 to 9999 (DuckDB's infinities).
    """
    kind = column.type
    if kind.tz not in _UTC or kind.unit == "ns":
        return None
    micros = pc.cast(column, pa.timestamp("us", kind.tz))
    bounds = pc.min_max(pc.cast(micros, pa.int64())).as_py()
    if bounds["min"] is not None and not (
        _MICROS[0] <= bounds["min"] and bounds["max"] <= _MICROS[1]
    ):
        return None
    text = pc.strftime(micros, format="%Y-%m-%dT%H:%M:%S")  # seconds carry their µs
    text = pc.replace_substring_regex(text, pattern=r"\.000000$", replacement="")
    if kind.tz is not None:
        text = pc.binary_join_element_wise(text, "+00:00", "")
    found: list[Any] = text.to_pylist()
    return found


def _json_scalar(scalar: pa.Scalar) -> Any:
    """One value on its own: a time Python cannot hold as text (``infinity``, ``0000-12-31 …``)."""
    try:
        return _json_value(scalar.as_py())
    except (OverflowError, ValueError):
        pass
    kind = scalar.type
    if isinstance(scalar, pa.ListScalar | pa.LargeListScalar | pa.FixedSizeListScalar):
        return [_json_scalar(value) for value in scalar.values]
    if isinstance(scalar, pa.UnionScalar):
        return _json_scalar(scalar.value)
    if isinstance(scalar, pa.StructScalar):
        return {str(name): _json_scalar(scalar[name]) for name in scalar.keys()}  # noqa: SIM118
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        raw = scalar.cast(pa.int32() if kind == pa.date32() else pa.int64()).as_py()
        if raw in (2**63 - 1, 2**31 - 1):  # DuckDB's infinities
            return "infinity"
        if raw in (-(2**63) + 1, -(2**31) + 1):
            return "-infinity"
        return pc.cast(scalar, pa.string()).as_py()
    try:
        return str(scalar)
    except (OverflowError, ValueError):  # a type Arrow cannot render either: no value
        return None


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, pa.MonthDayNano):  # a calendar interval: ISO 8601, months stay months
        seconds = f"T{value.nanoseconds / 1e9:g}S" if value.nanoseconds else ""
        return f"P{value.months}M{value.days}D{seconds}"
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)
