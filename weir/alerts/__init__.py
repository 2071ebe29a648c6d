"""The alerts component: rules over conditions, incidents, and notices that are not lost.

Checks elsewhere (failed runs, stale or thin sources, schema drift, KPI
anomalies) report ``Condition`` records through providers; alerts computes
KPI thresholds, stockouts and the audit chain itself. ``Alerts`` turns them
into incidents and delivers their notices through webhooks, e-mail or the
log, retrying until a channel takes each one.
"""

from weir.alerts.channels import DeliveryError
from weir.alerts.records import (
    Clock,
    Condition,
    ConditionProvider,
    Delivery,
    Evaluation,
    Incident,
    Notice,
    Outcome,
)
from weir.alerts.runner import AlertService
from weir.alerts.service import Alerts

__all__ = [
    "AlertService",
    "Alerts",
    "Clock",
    "Condition",
    "ConditionProvider",
    "Delivery",
    "DeliveryError",
    "Evaluation",
    "Incident",
    "Notice",
    "Outcome",
]
