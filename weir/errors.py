"""The root of every error weir raises on purpose.

Each error says what failed and what to do next; the CLI prints ``str(error)``
as one line (the traceback only with ``--debug``), the API turns it into one
JSON error shape.
"""

from __future__ import annotations


class WeirError(Exception):
    """Something a person can act on: ``what`` failed, ``fix`` says how to go on."""

    code = "weir_error"
    status = 400  # the HTTP status the API answers with

    def __init__(self, what: str, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(what if fix is None else f"{what} — {fix}")


class ProjectError(WeirError):
    """A project folder or one of its files is missing or invalid."""

    code = "project_invalid"
    status = 500


class NotFoundError(WeirError):
    """A named thing (source, table, batch, snapshot) does not exist."""

    code = "not_found"
    status = 404


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
