"""The metadata component: the platform's own records, in one database, and the audit log kept there."""

from weir.metadata.store import MetadataStore

__all__ = ["MetadataStore"]
