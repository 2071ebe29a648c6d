"""The data life cycle: retention rules, archive, destruction and legal holds (``weir lifecycle``).

Its names are imported on first use, so that opening a project, which checks the
retention rules (``weir.lifecycle.rules``), does not import the life cycle's services.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.lifecycle.archive import ArchiveError, verify_archive
    from weir.lifecycle.holds import HeldError, Hold, Holds
    from weir.lifecycle.service import Lifecycle
    from weir.lifecycle.steps import Step

_WHERE = {
    "ArchiveError": "archive",
    "verify_archive": "archive",
    "HeldError": "holds",
    "Hold": "holds",
    "Holds": "holds",
    "Lifecycle": "service",
    "Step": "steps",
}

__all__ = ["ArchiveError", "HeldError", "Hold", "Holds", "Lifecycle", "Step", "verify_archive"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'weir.lifecycle' has no attribute {name!r}")
    return getattr(importlib.import_module(f"weir.lifecycle.{_WHERE[name]}"), name)
