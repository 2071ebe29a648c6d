"""``POST /api/v1/sources/{name}/test`` and ``POST /api/v1/sources/discover``.

The CLI's ``weir sources test`` and ``weir sources discover``, behind the same
library calls (``project.sources.test``, ``project.sources.discover_named``),
under the caller's name on the audit log. Testing reaches a source the
project already defines, so an operator role may (``operator: true``, or
``admin: true``); discovering reaches what the caller names — a URL, a
database server, a landed spreadsheet — so only an admin role may, and even
then only what ``served_target`` allows: never a file outside the project's
``landing/`` folder or a source's location, never a file database, never the
server's environment. A proposal is shown, never written: a person reviews it
and adds ``sources/<name>.yml`` to the project.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import Field

from weir.governance.policy import Principal
from weir.ingest.probe import DiscoverOptions
from weir.project.base import Strict
from weir.serve.api import Column, Table, json_rows
from weir.serve.problems import error_responses
from weir.serve.routing import admin_of, api_v1_router, operator_of
from weir.workspace import Project

SourceName = Annotated[str, Path(max_length=63, description="the source's name")]


class SourceTest(Strict):
    source: str
    reached: str = Field(description="where the test reached, without any password")
    reads: str = Field(description="what an ingest would read now")
    sample: Table = Field(
        description="the records, as text, each with where it was read (at) and the contract's "
        "reasons it would be held (_reasons); pii and pci values withheld"
    )
    stored: int = Field(description="always 0: a test lands, commits and moves nothing")


class DiscoverRequest(Strict):
    """One target: exactly one of url and path."""

    url: str | None = Field(
        default=None,
        max_length=2000,
        description="an API's URL (http:// or https://) or a database server's "
        "(postgresql+psycopg://user:password@host/db); no ${VAR}, no file database",
    )
    path: str | None = Field(
        default=None,
        max_length=1000,
        description="a spreadsheet (.xlsx, .xls, .ods), relative to the project, under "
        "landing/ or matching a source's location",
    )
    table: str | None = Field(
        default=None, max_length=200, description="the table, when the database holds several"
    )
    name: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the source's name (default: from the table, the URL or the file)",
    )
    token: str | None = Field(
        default=None, max_length=4000, description="a bearer token for the API (never stored)"
    )


class Proposal(Strict):
    name: str
    file: str = Field(description="where the contract goes in the project: sources/NAME.yml")
    contract: str = Field(description="the proposed contract, YAML, for a person to review")
    notes: list[str]


def sources_router(app: FastAPI) -> APIRouter:
    """The source test and discover routes over the app's project."""
    project: Project = app.state.project
    tokens = project.access.tokens()
    policy = project.access.policy
    Operator = Annotated[Principal, Depends(operator_of(tokens, policy, "test sources"))]
    Admin = Annotated[Principal, Depends(admin_of(tokens, policy, "discover sources"))]
    router = api_v1_router(
        tokens,
        error_responses(
            {
                400: "the source could not be reached or read, or the target gave no records: "
                "the message says what and how to fix it",
                401: "no token, or a token unknown, revoked or expired",
                403: "the role may not (test: operator or admin; discover: admin), or the "
                "target is one the API does not open (a file outside landing/, a file "
                "database, ${VAR}, a driver parameter)",
                404: "no such source, or no such table in the database",
                413: "the request body is over the limit",
                422: "the request does not match this document",
            }
        ),
        tags=["sources"],
    )

    @router.post(
        "/sources/{name}/test",
        summary="Reach a source as an ingest would and show a sample; nothing is stored",
    )
    def test(
        caller: Operator,
        name: SourceName,
        limit: Annotated[int, Query(ge=1, le=1000, description="records to show at most")] = 10,
    ) -> SourceTest:
        probe, sample = project.sources.test(name, limit, by=caller.user)
        return SourceTest(
            source=probe.source,
            reached=probe.reached,
            reads=probe.reads,
            sample=Table(
                columns=[Column(name=f.name, type=str(f.type)) for f in sample.schema],
                rows=json_rows(sample),
                row_count=sample.num_rows,
                truncated=False,
            ),
            stored=0,
        )

    @router.post(
        "/sources/discover",
        summary="Propose a contract for an API, a database table or a landed spreadsheet (admin)",
    )
    def discover(caller: Admin, body: DiscoverRequest) -> Proposal:
        options = DiscoverOptions(table=body.table, name=body.name, token=body.token)
        proposal = project.sources.discover_named(body.url, body.path, options, caller.user)
        return Proposal(
            name=proposal.name,
            file=f"sources/{proposal.name}.yml",
            contract=proposal.text,
            notes=list(proposal.notes),
        )

    return router
