"""The compute engine seam: ``Engine``, its ``Session``s and ``Capabilities``.

No module outside this package imports an engine's library. DuckDB is the
default (``DuckDBEngine``); another engine is one more class here.
"""

from weir.engine.atrest import DataKey, num_rows
from weir.engine.base import Capabilities, Engine, Session
from weir.engine.duckdb_engine import DuckDBEngine
from weir.engine.errors import (
    BindError,
    ConversionError,
    EngineError,
    Interrupted,
    InvalidInput,
    OutOfMemory,
    ParseError,
)
from weir.engine.sql import ident, lit, table

__all__ = [
    "BindError",
    "Capabilities",
    "ConversionError",
    "DataKey",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "Interrupted",
    "InvalidInput",
    "OutOfMemory",
    "ParseError",
    "Session",
    "ident",
    "lit",
    "num_rows",
    "table",
]
