"""Data quality: freshness, volume, schema drift and KPI anomalies, health, flagged days.

``Quality`` (``service.py``) is what ``project.quality`` is: ``run`` evaluates
the checks and records each ``Check``; ``health`` gives every source, stream
and model a state; ``flags``/``flag``/``unflag`` manage the days KPI answers
can leave out.
"""

from weir.quality.checks import CHECK_KINDS, CHECK_STATES, Check, CheckKind, CheckState
from weir.quality.health import Health, HealthItem, HealthPart
from weir.quality.service import Quality

__all__ = [
    "CHECK_KINDS",
    "CHECK_STATES",
    "Check",
    "CheckKind",
    "CheckState",
    "Health",
    "HealthItem",
    "HealthPart",
    "Quality",
]
