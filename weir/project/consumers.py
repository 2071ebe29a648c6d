"""Stream consumers ``weir serve`` runs (``weir.yml`` ``consumers:``)."""

from __future__ import annotations

from weir.project.base import _Strict


class ConsumerConfig(_Strict):
    """One long-lived consumer of a broker topic into a source."""
