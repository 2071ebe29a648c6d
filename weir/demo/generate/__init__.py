"""The reference retailer's data generator: ten sources' files, dirt included, and a manifest.

``generate(out, days=..., scale=..., seed=..., end=...)`` writes the files a retailer's
systems would deliver to ``out/<source>/`` (POS CSVs per store and day, hourly
inventory and clickstream JSON lines, daily XML orders and CRM JSON lines,
daily entity extracts as CSV, JSON and Parquet), with dirty records of every
kind ingestion must handle, and ``out/manifest.json``: how many records each
source holds and how many ingestion must accept, quarantine and drop as
duplicates, and the incidents planted in the period (a tracker outage, a
missing POS file, a duplicate burst, a stockout; see ``incidents.py``). The
period ends yesterday (UTC) unless told otherwise. Same arguments, end date
included, same bytes.
"""

from __future__ import annotations

from weir.demo.generate.build import SOURCES, default_end, generate, period_of
from weir.demo.generate.dirt import DIRT_KINDS, OUTCOMES, DirtKind
from weir.demo.generate.errors import GenerateError
from weir.demo.generate.incidents import INCIDENT_KINDS, Incident, IncidentKind
from weir.demo.generate.manifest import Manifest, SourceCounts

__all__ = [
    "DIRT_KINDS",
    "INCIDENT_KINDS",
    "OUTCOMES",
    "SOURCES",
    "DirtKind",
    "GenerateError",
    "Incident",
    "IncidentKind",
    "Manifest",
    "SourceCounts",
    "default_end",
    "generate",
    "period_of",
]
