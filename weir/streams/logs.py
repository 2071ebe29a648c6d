"""Where each collector process keeps its logs, their positions' keys in the ledger, and the flush lock.

The first collector process (``weir serve``'s) logs into ``.weir/wal/<source>/``,
process N of ``weir collect --processes`` into ``.weir/wal-N/<source>/``; the
ledger keeps each log's position under ``collector:SOURCE`` or
``collector:SOURCE@N``. Flushing, erasure, retention and status all find the
logs here.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from weir.errors import LockedError

STREAM_PREFIX = "collector:"


@contextmanager
def flushing(wal_root: Path, wait: float) -> Iterator[None]:
    """Hold the project's flush lock: one flusher at a time, across processes.

    A flush reads the lake's position, then commits batches after it; two flushers
    at once (a server's, and the flush process of a server that died) would both
    take the same batch.
    """
    wal_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(wal_root / "flusher.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(
                        "another flush of the collector's logs is running",
                        "it finishes shortly; the flush is tried again",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def wal_root(state_dir: Path, instance: int = 0) -> Path:
    """The folder of one collector process's logs: ``wal`` for the first, ``wal-N`` for the others."""
    return state_dir / ("wal" if instance == 0 else f"wal-{instance}")


def wal_folder(state_dir: Path, source: str, instance: int = 0) -> Path:
    """The log of ``source`` kept by collector process ``instance``."""
    return wal_root(state_dir, instance) / source


def log_stream(source: str, instance: int = 0) -> str:
    """The ledger's key of a log's position: ``collector:SOURCE``, ``collector:SOURCE@N``."""
    return STREAM_PREFIX + source + (f"@{instance}" if instance else "")


@dataclass(frozen=True)
class CollectorLog:
    """One collector process's log of one source, and the key of its position in the ledger."""

    source: str
    instance: int
    folder: Path
    stream: str


def instances(state_dir: Path) -> list[int]:
    """The collector processes that keep logs in ``state_dir``: 0 always, then each ``wal-N``."""
    found = (p.name.removeprefix("wal-") for p in state_dir.glob("wal-*") if p.is_dir())
    return [0, *sorted(int(n) for n in found if n.isdigit() and int(n) > 0)]


def collector_logs(state_dir: Path, source: str) -> list[CollectorLog]:
    """Every log of ``source``: the first process's (on disk or not), and each other's on disk."""
    return [
        CollectorLog(source, n, wal_folder(state_dir, source, n), log_stream(source, n))
        for n in instances(state_dir)
        if n == 0 or wal_folder(state_dir, source, n).is_dir()
    ]
