"""The event collector's settings (``weir.yml`` ``collector:``)."""

from __future__ import annotations

from weir.project.base import _Strict


class CollectorConfig(_Strict):
    """How the collector stores and flushes what it receives."""
