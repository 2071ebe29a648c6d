"""weir: a data platform in a box for retail and e-commerce data teams.

``weir.Project`` and ``weir.init_project`` are imported when first used, so a
command that does not open a project (``weir --help``) does not pay for the
lake, the engine and the gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from weir.errors import WeirError

if TYPE_CHECKING:
    from weir.workspace import Project, init_project

__version__ = "0.1.0"

__all__ = ["Project", "WeirError", "__version__", "init_project"]


def __getattr__(name: str) -> Any:
    if name in ("Project", "init_project"):
        from weir import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'weir' has no attribute {name!r}")
