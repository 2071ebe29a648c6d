"""What an engine's failure is, in weir's terms.

Each engine turns its own exceptions into these, so no caller needs to know
the engine's library: a binding error is a ``BindError`` on DuckDB and on
Spark alike. They are ``WeirError``s, so one that reaches a person is one
line; the gateway rewords them again, since an engine's message can carry a
data value.
"""

from __future__ import annotations

from weir.errors import WeirError


class EngineError(WeirError):
    """The engine could not run a statement."""

    code = "engine_error"
    status = 500


class ParseError(EngineError):
    """The engine could not parse the SQL."""

    status = 400


class BindError(EngineError):
    """A name the SQL uses (a table, a column, a function) is unknown, or its types do not fit."""

    status = 400


class ConversionError(EngineError):
    """A value could not be converted to the type the SQL asks for."""

    status = 400


class InvalidInput(EngineError):
    """A value is out of range, or an argument is invalid."""

    status = 400


class OutOfMemory(EngineError):
    """The statement needed more memory than the session may use."""

    code = "out_of_memory"
    status = 503


class Interrupted(EngineError):
    """The statement was stopped (a timeout)."""

    code = "interrupted"
    status = 408
