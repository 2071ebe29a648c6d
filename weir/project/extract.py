"""How a source that is not a landed file is read: a REST API (``rest:``) or a spreadsheet's
sheets (``sheets:``), as fields of ``sources/<name>.yml``.

Secrets are never written in a project file: an auth block names the
environment variables that hold them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from weir.project.base import FieldProblem, Name, Strict

AuthKind = Literal["bearer", "basic", "header", "query"]
PageStyle = Literal["none", "page", "offset", "cursor", "link"]


class RestAuth(Strict):
    """How each request proves who is asking; the secret comes from the environment."""

    kind: AuthKind
    env: str = Field(
        description="the environment variable holding the token or key (basic: the password)"
    )
    username_env: str | None = Field(
        default=None, description="basic only: the environment variable holding the user name"
    )
    name: str | None = Field(
        default=None,
        description="header: the header's name (default X-API-Key); query: the parameter's "
        "name (default api_key)",
    )

    @model_validator(mode="after")
    def _complete(self) -> RestAuth:
        if self.kind == "basic" and self.username_env is None:
            raise FieldProblem("username_env", "basic auth needs username_env (and env)")
        if self.kind != "basic" and self.username_env is not None:
            raise FieldProblem("username_env", "username_env applies to basic auth only")
        return self


class RestPagination(Strict):
    """How the API splits its answer into pages, and how the next one is asked for."""

    style: PageStyle = "none"
    param: str | None = Field(
        default=None,
        description="the query parameter of the page number (page), the offset (offset) or "
        "the cursor (cursor); defaults: page, offset, cursor",
    )
    size_param: str | None = Field(
        default=None, description="the query parameter of the page size, if the API takes one"
    )
    size: int = Field(default=100, ge=1, description="records asked for per page")
    start: int = Field(default=1, ge=0, description="page style: the number of the first page")
    next: str | None = Field(
        default=None,
        description="cursor style: the dotted path of the next page's cursor in the answer",
    )

    @model_validator(mode="after")
    def _complete(self) -> RestPagination:
        if self.style == "cursor" and not self.next:
            raise FieldProblem("next", "cursor pagination needs next: the path of the cursor")
        return self

    @property
    def parameter(self) -> str:
        defaults = {"page": "page", "offset": "offset", "cursor": "cursor"}
        return self.param or defaults.get(self.style, "")


class RestIncremental(Strict):
    """Ask only for what changed since the last committed batch."""

    param: str = Field(description="the query parameter that takes the stored cursor")
    field: Name = Field(description="the record field whose greatest value is the next cursor")
    initial: str | None = Field(
        default=None, description="the cursor of the very first extract (default: none sent)"
    )


class RestOptions(Strict):
    """A REST API's records endpoint."""

    url: str = Field(
        description="the records endpoint: base URL and path; ${VAR} is replaced by the "
        "environment variable VAR (an API whose address varies: ${CRM_URL}/v1/accounts)"
    )
    records: str = Field(
        default="",
        description="dotted path of the list of records in the answer ('' when it is the list)",
    )
    params: dict[str, str] = Field(default={}, description="query parameters sent every time")
    auth: RestAuth | None = None
    pagination: RestPagination = RestPagination()
    incremental: RestIncremental | None = None
    timeout: float = Field(default=30.0, gt=0, description="seconds one request may take")
    retries: int = Field(
        default=5, ge=0, description="retries of a page after a 5xx, a timeout or a 429"
    )
    backoff: float = Field(
        default=1.0, ge=0, description="seconds before the first retry, doubled each time"
    )
    max_wait: float = Field(
        default=300.0, ge=0, description="the longest Retry-After honoured, in seconds"
    )
    max_pages: int = Field(default=10_000, ge=1, description="stop with an error past this")

    @model_validator(mode="after")
    def _url(self) -> RestOptions:
        if not self.url.startswith(("http://", "https://", "${")):
            raise FieldProblem("url", "must start with http://, https:// or a ${VAR}")
        return self


class SheetOptions(Strict):
    """Which sheets of a workbook hold the records, and where their header is."""

    sheets: list[str] | Literal["all"] | None = Field(
        default=None, description="sheet names, or 'all'; default: the first sheet"
    )
    header_row: int = Field(
        default=1, ge=1, description="the row holding the column names (rows above are skipped)"
    )
