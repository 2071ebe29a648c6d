"""The root of every error weir raises on purpose.

Each error says what failed and what to do next; the CLI prints ``str(error)``
as one line (the traceback only with ``--debug``), the API turns it into one
JSON error shape.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Self


class WeirError(Exception):
    """Something a person can act on: ``what`` failed, ``fix`` says how to go on."""

    code = "weir_error"
    status = 400  # the HTTP status the API answers with

    def __init__(self, what: str, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(what if fix is None else f"{what} — {fix}")

    def details(self) -> dict[str, object]:
        """Fields a caller can act on beyond ``what`` and ``fix`` (the API adds them to the error)."""
        return {}


class ProjectError(WeirError):
    """A project folder or one of its files is missing or invalid: the operator's to fix."""

    code = "project_invalid"
    status = 500


class NotFoundError(WeirError):
    """A named thing (source, table, KPI, model, batch, snapshot) does not exist.

    ``kind`` says what was looked for ("source", "kpi", …), ``name`` the name
    asked for, ``suggestion`` the closest name that does exist, if any.
    """

    code = "not_found"
    status = 404

    def __init__(
        self,
        what: str,
        fix: str | None = None,
        *,
        kind: str | None = None,
        name: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(what, fix)
        self.kind = kind
        self.name = name
        self.suggestion = suggestion

    @classmethod
    def among(
        cls,
        kind: str,
        name: str,
        known: Iterable[str],
        fix: str,
        label: str | None = None,
        quoted: bool = False,
    ) -> Self:
        """``name`` is no ``kind`` of ``known``: the closest one as a did-you-mean, else ``fix``."""
        close = difflib.get_close_matches(name, list(known), n=1)
        q = "'" if quoted else ""
        return cls(
            f"no {label or kind} named {q}{name}{q}",
            f"did you mean {q}{close[0]}{q}?" if close else fix,
            kind=kind,
            name=name,
            suggestion=close[0] if close else None,
        )

    def details(self) -> dict[str, object]:
        found = {"kind": self.kind, "name": self.name, "suggestion": self.suggestion}
        return {key: value for key, value in found.items() if value is not None}


class UnknownName(NotFoundError, ProjectError):
    """A name asked for (a source, model or KPI) that the project does not define.

    A request's mistake, not the project's: not found (404). It is also a
    ProjectError, as these names were before, so code that caught a misspelt
    name as a ProjectError still does.
    """


class QueryError(WeirError):
    """A SQL query was refused or failed."""

    code = "query_failed"


class LockedError(WeirError):
    """Another process is writing to the same project."""

    code = "locked"
    status = 503


class AuthError(WeirError):
    """No credentials, or credentials that are unknown, revoked or expired."""

    code = "unauthorized"
    status = 401


class AccessDenied(WeirError):
    """The caller is known but its role may not do or see this."""

    code = "forbidden"
    status = 403


class TooLarge(WeirError):
    """A request body or a result is over a configured limit."""

    code = "too_large"
    status = 413


class Overloaded(WeirError):
    """The server cannot safely accept more now (a full log, a full disk): retry later."""

    code = "overloaded"
    status = 503

    def __init__(self, what: str, fix: str | None = None, retry_after: int = 1) -> None:
        super().__init__(what, fix)
        self.retry_after = retry_after

    def details(self) -> dict[str, object]:
        return {"retry_after": self.retry_after}


class RateLimited(Overloaded):
    """Too many attempts from one person or address (refused sign-ins): retry later."""

    code = "rate_limited"
    status = 429
