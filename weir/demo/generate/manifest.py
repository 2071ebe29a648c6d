"""The generator's manifest: per source, the files written and what ingestion must make of them.

``received = accepted + quarantined + duplicates`` holds for every source;
``dirty`` counts records by kind of dirt (see ``dirt.OUTCOMES``): the records
of quarantine kinds add up to ``quarantined``, those of duplicate kinds to
``duplicates``, and the remaining kinds are remarks on accepted records.
``incidents`` lists the incidents planted in the period (see ``incidents.py``),
by day: the truth a data-quality monitor's findings can be checked against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from weir.demo.generate.dirt import DIRT_KINDS
from weir.demo.generate.incidents import Incident
from weir.demo.generate.records import ACCEPTED, DUPLICATE, QUARANTINED

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class SourceCounts:
    """What one source's files hold, as ingestion will count it."""

    files: int
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    dirty: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "dirty", MappingProxyType(dict(sorted(self.dirty.items()))))

    @property
    def balanced(self) -> bool:
        return self.received == self.accepted + self.quarantined + self.duplicates

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "received": self.received,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "dirty": dict(self.dirty),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceCounts:
        return cls(
            files=int(data["files"]),
            received=int(data["received"]),
            accepted=int(data["accepted"]),
            quarantined=int(data["quarantined"]),
            duplicates=int(data["duplicates"]),
            dirty={str(k): int(v) for k, v in data.get("dirty", {}).items()},
        )


@dataclass(frozen=True)
class Manifest:
    """The arguments of a generator run, the expected counts of each source and the planted incidents."""

    seed: int
    days: int
    scale: float
    start: str
    sources: Mapping[str, SourceCounts]
    incidents: tuple[Incident, ...] = ()
    # Ground truth beyond the counts, by topic (``logistics``: parcels, late parcels,
    # planted bottlenecks, late purchase orders; see ``logistics.py``).
    truth: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", MappingProxyType(dict(sorted(self.sources.items()))))
        object.__setattr__(self, "incidents", tuple(self.incidents))

    @property
    def end(self) -> str:
        """The last day of the period, ``YYYY-MM-DD``."""
        return (date.fromisoformat(self.start) + timedelta(days=self.days - 1)).isoformat()

    def to_json(self) -> str:
        body = {
            "seed": self.seed,
            "days": self.days,
            "scale": self.scale,
            "start": self.start,
            "end": self.end,
            "sources": {name: counts.to_dict() for name, counts in self.sources.items()},
            "incidents": [incident.to_dict() for incident in self.incidents],
        }
        if self.truth:
            body["truth"] = dict(self.truth)
        return json.dumps(body, sort_keys=True, indent=2) + "\n"

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_FILE
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def from_path(cls, path: Path) -> Manifest:
        """Read a manifest file (or the ``manifest.json`` in folder ``path``)."""
        if path.is_dir():
            path = path / MANIFEST_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            seed=int(data["seed"]),
            days=int(data["days"]),
            scale=float(data["scale"]),
            start=str(data["start"]),
            sources={name: SourceCounts.from_dict(c) for name, c in data["sources"].items()},
            incidents=tuple(Incident.from_dict(i) for i in data.get("incidents", [])),
            truth=dict(data.get("truth", {})),
        )


class SourceLedger:
    """Running counts of one source, fed with each file's lines as it is written."""

    def __init__(self) -> None:
        self.files = 0
        self._by_status = np.zeros(3, dtype=np.int64)
        self._by_kind = np.zeros(len(DIRT_KINDS), dtype=np.int64)

    def count(self, status: np.ndarray, kind: np.ndarray) -> None:
        """Add records by status (void lines, written as nothing, are not records) and kind."""
        self._by_status += np.bincount(status.astype(np.intp), minlength=4)[:3]
        dirty = kind[kind >= 0]
        if len(dirty):
            self._by_kind += np.bincount(dirty.astype(np.intp), minlength=len(DIRT_KINDS))[
                : len(DIRT_KINDS)
            ]

    def counts(self) -> SourceCounts:
        dirty: dict[str, int] = {DIRT_KINDS[i]: int(c) for i, c in enumerate(self._by_kind) if c}
        return SourceCounts(
            files=self.files,
            received=int(self._by_status.sum()),
            accepted=int(self._by_status[ACCEPTED]),
            quarantined=int(self._by_status[QUARANTINED]),
            duplicates=int(self._by_status[DUPLICATE]),
            dirty=dirty,
        )
