"""The reference retailer's data generator: ten sources' files, dirt included, and a manifest.

``generate(out, days=..., scale=..., seed=...)`` writes the files a retailer's
systems would deliver to ``out/<source>/`` (POS CSVs per store and day, hourly
inventory and clickstream JSON lines, daily XML orders and CRM JSON lines,
daily entity extracts as CSV, JSON and Parquet), with dirty records of every
kind ingestion must handle, and ``out/manifest.json``: how many records each
source holds and how many ingestion must accept, quarantine and drop as
duplicates. Same arguments, same bytes.
"""

from __future__ import annotations

from weir.demo.generate.build import SOURCES, generate
from weir.demo.generate.dirt import DIRT_KINDS, OUTCOMES, DirtKind
from weir.demo.generate.errors import GenerateError
from weir.demo.generate.manifest import Manifest, SourceCounts

__all__ = [
    "DIRT_KINDS",
    "OUTCOMES",
    "SOURCES",
    "DirtKind",
    "GenerateError",
    "Manifest",
    "SourceCounts",
    "generate",
]
