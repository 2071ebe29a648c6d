"""The one error shape of every HTTP answer that is not a success, and its OpenAPI model.

Every route of the server, whatever raised the error, answers::

    {"error": {"status": 404, "code": "not_found", "message": "...", "fix": "..."}}

``error_body`` builds it (``app.py`` turns every exception into it);
``error_responses`` declares it in the OpenAPI document for a route's statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from weir.project.base import Strict


class Problem(Strict):
    where: str
    problem: str


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str
    fix: str | None = None
    problems: list[Problem] | None = None
    kind: str | None = Field(
        default=None, description="not found: what was looked for (source, kpi, dataset, …)"
    )
    name: str | None = Field(default=None, description="not found: the name asked for")
    suggestion: str | None = Field(
        default=None, description="not found: the closest name that exists"
    )
    retry_after: int | None = Field(default=None, description="overloaded: seconds to wait")


class ErrorBody(Strict):
    error: ErrorDetail


def error_body(
    status: int, code: str, message: str, fix: str | None = None, **extra: object
) -> dict[str, object]:
    """The one error shape of every HTTP answer that is not a success."""
    error: dict[str, object] = {"status": status, "code": code, "message": message, "fix": fix}
    error.update(extra)
    return {"error": error}


def error_responses(statuses: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with its description, in the one shape."""
    return {status: {"model": ErrorBody, "description": text} for status, text in statuses.items()}
