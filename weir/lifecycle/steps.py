"""What retention does, or would do, to one table or log: the record ``plan`` and ``run`` return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Step:
    """One thing retention does (or would do) to one table or log."""

    dataset: str  # raw.pos, or wal/web_traffic for a collector log
    kind: str  # archive, destroy, expire (old snapshots), log (segments)
    rule: str
    rows: int  # rows; snapshots for expire; segments for log
    files: int = 0
    time_from: float | None = None
    time_to: float | None = None
    cutoff: float | None = None
    held: str | None = None  # the hold that stops it
    archive: str | None = None
    note: str = ""

    def glance(self) -> dict[str, Any]:
        """What fits a terminal: the table, what happens, how much, of when, by which rule."""

        def day(t: float | None) -> str:
            return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") if t else ""

        unit = {"expire": "snapshots", "log": "segments"}.get(self.kind, "rows")
        span = f"{day(self.time_from)} … {day(self.time_to)}" if self.time_from else ""
        return {
            "dataset": self.dataset,
            "action": self.kind,
            "count": f"{self.rows} {unit}" + (f" in {self.files} files" if self.files else ""),
            "of": span,
            "rule": self.rule,
            "status": f"skipped: {self.held}" if self.held else self.note,
        }

    def as_row(self) -> dict[str, Any]:
        def day(t: float | None) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if t else ""

        unit = {"expire": "snapshots", "log": "segments"}.get(self.kind, "rows")
        return {
            "dataset": self.dataset,
            "action": self.kind,
            "count": self.rows,
            "unit": unit,
            "files": self.files,
            "from": day(self.time_from),
            "to": day(self.time_to),
            "older_than": day(self.cutoff),
            "rule": self.rule,
            "status": f"skipped: {self.held}" if self.held else self.note,
            "archive": self.archive or "",
        }
