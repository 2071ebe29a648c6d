"""The root of every error weir raises on purpose.

Each error says what failed and what to do next; the CLI prints ``str(error)``
as one line (the traceback only with ``--debug``), the API turns it into one
JSON error shape.
"""

from __future__ import annotations


class WeirError(Exception):
    """Something a person can act on: ``what`` failed, ``fix`` says how to go on."""

    code = "weir_error"

    def __init__(self, what: str, fix: str | None = None) -> None:
        self.what = what
        self.fix = fix
        super().__init__(what if fix is None else f"{what} — {fix}")


class ProjectError(WeirError):
    """A project folder or one of its files is missing or invalid."""

    code = "project_invalid"


class NotFoundError(WeirError):
    """A named thing (source, table, batch, snapshot) does not exist."""

    code = "not_found"


class QueryError(WeirError):
    """A SQL query was refused or failed."""

    code = "query_failed"


class LockedError(WeirError):
    """Another process is writing to the same project."""

    code = "locked"
