"""The generator's errors."""

from __future__ import annotations

from weir.errors import WeirError


class GenerateError(WeirError):
    """The generator was asked for something it cannot make (no days, a negative scale)."""

    code = "generate_invalid"
