"""What operators do, in the audit log: ingests, model runs, and changes to the project's definition.

An ingest or a run is recorded when it ends, failed or not, with the datasets
it wrote and how many records.

The definition is ``weir.yml`` and every file under ``sources/``, ``models/``
and ``metrics/``: who may see what, what is ingested and how KPIs are computed.
Each file's sha256 is kept in the detail of the newest ``config.change``
record; opening a project whose files differ appends a record naming the files
added, changed and removed.
"""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

from weir.governance.audit import AuditEntry, AuditLog, AuditRecord
from weir.ingest import BatchResult
from weir.transform import RunResult

T = TypeVar("T")

WATCHED = ("weir.yml", "sources", "models", "metrics")


def definition_files(root: Path) -> dict[str, str]:
    """Relative path → sha256 of every file that defines the project."""
    found: dict[str, str] = {}
    for name in WATCHED:
        path = root / name
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in paths:
            if any(part.startswith(".") for part in file.relative_to(root).parts):
                continue
            found[file.relative_to(root).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def operator() -> str:
    """Who runs this process (the CLI, a scheduler): the operating system's user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record_definition(audit: AuditLog, root: Path) -> AuditRecord | None:
    """Append a ``config.change`` record when the project's files differ from the last one."""
    files = definition_files(root)

    def changed(last: AuditRecord | None) -> AuditEntry | None:
        before: dict[str, str] = dict((last.entry.detail or {}).get("files", {})) if last else {}
        if before == files and last is not None:
            return None
        added = sorted(set(files) - set(before))
        removed = sorted(set(before) - set(files))
        edited = sorted(p for p in set(files) & set(before) if files[p] != before[p])
        parts = [
            f"{label}: {', '.join(paths)}"
            for label, paths in (("added", added), ("changed", edited), ("removed", removed))
            if paths
        ]
        return AuditEntry(
            "config.change",
            "; ".join(parts) or "no files",
            user=operator(),
            datasets=(),
            rows=len(files),
            detail={"files": files, "added": added, "changed": edited, "removed": removed},
        )

    if changed(audit.last("config.change")) is None:
        return None  # the common case, answered without taking the log's write lock
    return audit.append_after("config.change", changed)


def record_run(
    audit: AuditLog,
    select: Sequence[str] | None,
    full_refresh: bool,
    start: date | None,
    end: date | None,
    run: Callable[[], tuple[T, RunResult]],
) -> tuple[T, RunResult]:
    """Do ``run`` and append one ``run`` record saying what it built (or why it failed)."""
    parts = ["run", *(select or ["(all)"])]
    parts += ["--full-refresh"] if full_refresh else []
    parts += [f"--start {start}"] if start else []
    parts += [f"--end {end}"] if end else []
    with audit.recording("run", " ".join(parts), operator()) as note:
        outcome, result = run()
        built = [b for b in result.builds if b.status == "built"]
        failed = [b.model for b in result.builds if b.status == "failed"]
        note.datasets = tuple(b.model for b in built)
        note.rows = sum(b.rows or 0 for b in built)
        note.reason = f"failed: {', '.join(failed)}" if failed else None
        note.detail = {"run_id": result.run_id, "builds": len(result.builds)}
    return outcome, result


def record_ingest(
    audit: AuditLog,
    sources: Sequence[str],
    path: Path | None,
    ingest: Callable[[], list[BatchResult]],
) -> list[BatchResult]:
    """Do ``ingest`` and append one ``ingest`` record with each batch's counts."""
    action = " ".join(["ingest", *sources, *([f"--path {path}"] if path else [])])
    with audit.recording("ingest", action, operator()) as note:
        batches = ingest()
        written = [b for b in batches if b.batch_id]
        note.datasets = tuple(f"staging.{b.source}" for b in written)
        note.rows = sum(b.counts.received for b in batches)
        note.detail = {
            "batches": {
                b.source: {
                    "batch": b.batch_id,
                    "received": b.counts.received,
                    "accepted": b.counts.accepted,
                    "quarantined": b.counts.quarantined,
                    "duplicates": b.counts.duplicates,
                }
                for b in written
            }
        }
    return batches
