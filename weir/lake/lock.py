"""The lake's one-writer lock: one process (and one thread) commits at a time.

A batch writes several tables and a model run replaces one; both commit
through the lake, and every commit takes this lock, so a collector's flush,
a broker consumer, ``weir ingest`` and ``weir run`` never interleave their
snapshots. It is a lock file beside the lake (``flock``, released by the
kernel when a process dies); it is re-entrant within the thread that holds
it, so a batch holds it across its steps and its commits take it again at no
cost. The file names the holder, for the message another writer gets. Its
holder tells ``on_release`` before letting go (the lake moves its change
signal there, so readers learn that something may have been committed).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from weir.errors import LockedError


class WriteLock:
    """The write lock of one lake (``path`` is its lock file)."""

    def __init__(self, path: Path, on_release: Callable[[], None] | None = None) -> None:
        self.path = path
        self.on_release = on_release  # told before the lock is let go, as its holder
        self._mutex = threading.RLock()
        self._depth = 0
        self._handle: IO[str] | None = None

    @contextmanager
    def held(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the lock, waiting up to ``wait`` seconds for another writer; else LockedError."""
        deadline = time.monotonic() + wait
        acquired = self._mutex.acquire(timeout=wait) if wait > 0 else self._mutex.acquire(False)
        if not acquired:
            raise _locked("another thread of this process")
        try:
            if self._depth == 0:
                self._handle = self._take(deadline)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._handle is not None:
                    try:
                        if self.on_release is not None:
                            self.on_release()
                    finally:
                        fcntl.flock(self._handle, fcntl.LOCK_UN)
                    self._handle.close()
                    self._handle = None
        finally:
            self._mutex.release()

    def _take(self, deadline: float) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise _locked(holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        return handle


def _locked(holder: str) -> LockedError:
    return LockedError(
        f"the project is being written by {holder}",
        "wait for it to finish, then run the command again",
    )
