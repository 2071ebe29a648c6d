"""The second example business: an e-mail delivery company ("deliverability").

``generate(out, database_url=..., days=..., seed=...)`` makes what its systems hold:
the sent e-mails and their delivery events in an OLTP database (PostgreSQL, or a
SQLite file when no URL is given), the suppression list (addresses that bounced or
complained) in a SQLite file, the CRM's sending domains served by a local REST API
(``crm_api``), and a daily spreadsheet of clients and their plans, with 1-2 % dirty
records and a manifest of what ingestion must make of them.
"""

from __future__ import annotations

from weir.demo.deliverability.crm_api import CrmApi, serve_crm
from weir.demo.deliverability.generate import (
    CRM_TOKEN,
    ENV_CRM_TOKEN,
    ENV_CRM_URL,
    ENV_DATABASE_URL,
    ENV_SUPPRESSIONS_URL,
    SOURCES,
    Generated,
    generate,
)

__all__ = [
    "CRM_TOKEN",
    "ENV_CRM_TOKEN",
    "ENV_CRM_URL",
    "ENV_DATABASE_URL",
    "ENV_SUPPRESSIONS_URL",
    "SOURCES",
    "CrmApi",
    "Generated",
    "generate",
    "serve_crm",
]
