"""The collector's log under retention: segments the lake already holds, past ``collector_log``.

The collector deletes a log segment as soon as the lake holds its records; a
segment a stopped server left behind stays until the next start. Retention
deletes those once older than ``collector_log`` and reports, never deletes,
an older segment whose records the lake does not hold yet (acknowledged events
are never lost to retention).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from weir.ingest.ledger import Ledger
from weir.lifecycle.holds import Hold
from weir.lifecycle.steps import Step
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.project import ProjectFiles
from weir.project.durations import parse_duration
from weir.streams.collector import STREAM_PREFIX, wal_folder
from weir.streams.wal import segments


def log_steps(
    files: ProjectFiles,
    ledger: Ledger,
    audit: AuditLog,
    now: datetime,
    holds: Mapping[str, Hold],
    act: bool,
    chosen: set[str] | None = None,
) -> list[Step]:
    """Each collector log with segments past ``collector_log``: delete them (``act``) or say so.

    Only a prefix of a log goes (a log is read from its first segment on, without
    gaps), never the segment being written, and never one holding a record the lake
    does not hold yet (the source's committed stream position): those are counted.
    """
    steps = []
    root = files.state_dir / "wal"
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        name = folder.name
        window = files.config.retention.log_for(name)
        if window is None or (chosen is not None and name not in chosen):
            continue
        cut = (now - parse_duration(window)).timestamp()
        stream = STREAM_PREFIX + name
        committed = int(ledger.positions(stream).get(stream, "0"))
        found = segments(wal_folder(files.state_dir, name))
        doomed: list[Path] = []
        waiting = 0
        for index, ((_, path), (following, _)) in enumerate(itertools.pairwise(found)):
            old = path.stat().st_mtime < cut
            if following <= committed and old and len(doomed) == index:
                doomed.append(path)
            elif old and following > committed:
                waiting += 1
        if not doomed and not waiting:
            continue
        hold = holds.get(name)
        note = f"{waiting} older segment(s) not yet in the lake are kept" if waiting else ""
        step = Step(
            f"wal/{name}",
            "log",
            f"collector_log: keep {window}",
            len(doomed),
            cutoff=cut,
            held=hold.describe() if hold else None,
            note=note,
        )
        if act and hold is None and doomed:
            for path in doomed:
                path.unlink(missing_ok=True)
            step = replace(step, note=("done; " + note) if note else "done")
            audit.append(
                AuditEntry(
                    "lifecycle",
                    f"lifecycle log {name}",
                    user=operator(),
                    detail={
                        "segments_deleted": [p.name for p in doomed],
                        "kept_unflushed": waiting,
                    },
                )
            )
        steps.append(step)
    return steps
