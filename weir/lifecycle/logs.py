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
from weir.streams.logs import instances, log_stream, wal_root
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
    logs = [  # each collector process's logs
        (instance, folder)
        for instance in instances(files.state_dir)
        for folder in sorted(wal_root(files.state_dir, instance).glob("*"))
        if folder.is_dir()
    ]
    for instance, folder in logs:
        name = folder.name
        window = files.config.retention.log_for(name)
        if window is None or (chosen is not None and name not in chosen):
            continue
        cut = (now - parse_duration(window)).timestamp()
        stream = log_stream(name, instance)
        committed = int(ledger.positions(stream).get(stream, "0"))
        found = segments(folder)
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
            f"{folder.parent.name}/{name}",
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
                    f"lifecycle log {name}" + (f"@{instance}" if instance else ""),
                    user=operator(),
                    detail={
                        "segments_deleted": [p.name for p in doomed],
                        "kept_unflushed": waiting,
                    },
                )
            )
        steps.append(step)
    return steps
