"""One ``weir ingest`` of the POS files, timed phase by phase, in this process or a new one.

The phases are the stages the ingestor reports through ``Project(progress=…)``:

- discover: finding the new files and their checksums (up to "reading");
- read: the files into one text table, card numbers tokenised, every line accounted for;
- contract + dedupe: the contract's query, each record's fate decided (up to "writing");
- write: raw, quarantine and staging written as Parquet files;
- commit: the Iceberg commits, the batch ledger and the audit record.

Run as a script (``python ingest_phases.py PROJECT FOLDER``) it ingests in a new
process and prints the figures as JSON, so the caller can read that process's
peak memory (``toolvenv.timed``).
"""

from __future__ import annotations

import itertools
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import weir

PHASES = ("discover", "read", "contract + dedupe", "write", "commit")
# the first word of each stage the ingestor reports → the phase it starts
STAGE_PHASE = {
    "reading": "read",
    "checking": "contract + dedupe",
    "writing": "write",
    "committing": "commit",
}


@dataclass
class IngestRun:
    """One batch of POS: its wall clock, its counts and the seconds of each phase."""

    seconds: float
    received: int
    accepted: int
    quarantined: int
    duplicates: int
    phases: dict[str, float] = field(default_factory=dict)
    peak_rss: int | None = None

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds else 0.0

    def where_the_time_goes(self) -> str:
        total = sum(self.phases.values()) or 1.0
        return ", ".join(
            f"{name} {self.phases.get(name, 0.0):.2f} s ({self.phases.get(name, 0.0) / total:.0%})"
            for name in PHASES
        )


def ingest_pos(root: Path, pos: Path) -> IngestRun:
    """A new project at ``root`` (replaced), the POS files under ``pos`` ingested as one batch."""
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    marks: list[tuple[str, float]] = []

    def progress(source: str, stage: str) -> None:
        marks.append((STAGE_PHASE.get(stage.split(" ")[0], stage), time.perf_counter()))

    with weir.Project(root, progress=progress) as project:
        started = time.perf_counter()
        [result] = project.sources.ingest(["pos"], path=pos)
        ended = time.perf_counter()
    phases: dict[str, float] = {}
    edges = [("discover", started), *marks, ("end", ended)]
    for (name, at), (_, until) in itertools.pairwise(edges):
        phases[name] = phases.get(name, 0.0) + until - at
    counts = result.counts
    return IngestRun(
        ended - started,
        counts.received,
        counts.accepted,
        counts.quarantined,
        counts.duplicates,
        phases,
    )


def from_json(text: str, peak_rss: int | None) -> IngestRun:
    figures = json.loads(text.strip().splitlines()[-1])
    figures["peak_rss"] = peak_rss
    return IngestRun(**figures)


if __name__ == "__main__":
    run = ingest_pos(Path(sys.argv[1]), Path(sys.argv[2]))
    shutil.rmtree(sys.argv[1], ignore_errors=True)
    print(json.dumps(asdict(run)))
