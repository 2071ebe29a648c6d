"""The serve component: the HTTP API, the event collector, health and metrics."""

from weir.serve.app import Service, create_app
from weir.serve.problems import error_body

__all__ = ["Service", "create_app", "error_body"]
