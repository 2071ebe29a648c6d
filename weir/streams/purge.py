"""The collector's write-ahead log, purged of a data subject's records once they are in the lake.

A flush puts a log's records in the lake and then releases the segments
before the flushed position; the segment it sealed last stays until the next
flush, and a collector that stopped keeps its last segment. ``purge_log``
deletes every segment wholly before the lake's position (``committed``): the
lake holds their records, so nothing is lost, and positions stay contiguous
because only a prefix of the log goes. The last segment, when it holds a
matching record and no collector writes it, is replaced by an empty segment
starting where it ended. Records not yet flushed are left where they are: the
flush suppresses those about an erased subject (the erasure registry), and
releases their segment after it; ``pending`` counts them.

The caller holds the project's flush lock (``logs.flushing``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from weir.errors import LockedError
from weir.streams.wal import SUFFIX, _fsync_dir, _own, read_log
from weir.streams.wal import segments as listed


@dataclass(frozen=True)
class LogPurge:
    """What ``purge_log`` found and did in one source's log."""

    source: str
    matching: int = 0  # records about the subject in the log before the purge
    deleted: tuple[str, ...] = ()  # segment files removed
    pending: int = 0  # matching records not in the lake yet (suppressed when flushed)
    live: bool = False  # a collector writes this log now
    notes: list[str] = field(default_factory=list)


def segments(folder: Path) -> list[tuple[int, int, Path]]:
    """(first position, end position, path) of each segment of the log in ``folder``."""
    return [(base, base + path.stat().st_size, path) for base, path in listed(folder)]


def count_matching(folder: Path, matches: Callable[[bytes], bool]) -> tuple[int, int]:
    """Records of the log matching, and segments holding one."""
    records = held = 0
    for base, end, _ in segments(folder):
        found = sum(1 for _, payload in read_log(folder, base, end) if matches(payload))
        records += found
        held += 1 if found else 0
    return records, held


def purge_log(
    folder: Path, source: str, committed: int, matches: Callable[[bytes], bool]
) -> LogPurge:
    """Delete the flushed segments (and a flushed last one holding a match, if idle)."""
    if not folder.is_dir():
        return LogPurge(source)
    parts = segments(folder)
    matching = pending = 0
    for base, end, _ in parts:
        for position, payload in read_log(folder, base, end):
            if matches(payload):
                matching += 1
                pending += 1 if position >= committed else 0
    deleted: list[str] = []
    for _, end, path in parts[:-1]:
        if end > committed:
            break
        path.unlink(missing_ok=True)
        deleted.append(path.name)
    live = False
    if parts:
        base, end, path = parts[-1]
        holds = end > base and any(matches(p) for _, p in read_log(folder, base, end))
        if holds and end <= committed:
            try:
                owner = _own(folder)
            except LockedError:
                live = True  # the running collector releases it at its next flush
            else:
                try:
                    fresh = folder / f"{end:020d}{SUFFIX}"
                    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT, 0o600)
                    os.close(fd)
                    path.unlink()
                    deleted.append(path.name)
                finally:
                    os.close(owner)
    if deleted:
        _fsync_dir(folder)
    return LogPurge(source, matching, tuple(deleted), pending, live)
