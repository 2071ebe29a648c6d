"""What every project file model shares: strictness, names, and pointed errors."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

_NAME = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=_NAME, max_length=63)]


class FieldProblem(ValueError):
    """A check across fields that failed because of one of them: the loader points at its line."""

    def __init__(self, field: str, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.fix = fix


class Strict(BaseModel):
    """What people write (project files, API requests): unknown fields are refused, values fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
