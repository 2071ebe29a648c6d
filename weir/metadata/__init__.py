"""The metadata component: the platform's own records, in one database."""

from weir.metadata.store import MetadataStore

__all__ = ["MetadataStore"]
