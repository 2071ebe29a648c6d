"""The data life cycle: retention rules, archive, destruction and legal holds (``weir lifecycle``)."""

from weir.lifecycle.archive import ArchiveError, verify_archive
from weir.lifecycle.holds import HeldError, Hold, Holds
from weir.lifecycle.service import Lifecycle
from weir.lifecycle.steps import Step

__all__ = ["ArchiveError", "HeldError", "Hold", "Holds", "Lifecycle", "Step", "verify_archive"]
