"""The record of a collected source whose flush fails: how often, the last error, since when.

A batch that cannot be committed (a value the lake cannot store, an engine
error while writing) is rolled back and stays in the log; the next flush tries
it again. So the failure is not lost from sight while the backlog grows, it is
counted here, logged to ``weir.collector`` and written beside the consumers'
state files (``<state_dir>/streams/collector_<source>.json``), where
``weir status`` reads it from another process, across restarts. A flush of the
source that succeeds ends the failing spell (``since`` is cleared); the count
of errors stays.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.errors import LockedError, WeirError

log = logging.getLogger("weir.collector")

STATE_FOLDER = "streams"  # the consumers' state files live there too (``consumers.base``)


@dataclass(frozen=True)
class FlushFailure:
    """A failed flush of a source, as a flush process reports it to the server."""

    source: str
    error: str
    since: float


def describe(exc: BaseException) -> str:
    """The error as one line: a WeirError's message, else the exception's type and text."""
    text = " ".join(str(exc).split())
    if isinstance(exc, WeirError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_contention(exc: BaseException) -> bool:
    """A lock held by another writer: the flush waits its turn, nothing is wrong."""
    return isinstance(exc, LockedError)


class FlushHealth:
    """The failing-flush record of each collected source of a project, on disk."""

    def __init__(self, state_dir: Path, stream: Callable[[str], str]) -> None:
        self.folder = state_dir / STATE_FOLDER
        self.stream = stream  # source → the stream of the log (one collector process's)

    def path(self, source: str) -> Path:
        stream = self.stream(source)
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", stream) + ".json")

    def read(self, source: str) -> dict[str, Any] | None:
        try:
            state = json.loads(self.path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def failed(self, source: str, error: str, at: float | None = None) -> dict[str, Any]:
        """Count a failed flush of ``source``; returns the record as written."""
        at = time.time() if at is None else at
        state = self.read(source) or {}
        record = {
            "stream": self.stream(source),
            "source": source,
            "kind": "collector",
            "errors": int(state.get("errors", 0)) + 1,
            "last_error": error,
            "since": state.get("since") or at,
            "updated_at": at,
        }
        self._write(source, record)
        return record

    def recovered(self, source: str) -> None:
        """A flush of ``source`` succeeded: its failing spell, if any, is over."""
        if not self.path(source).exists():
            return  # the common case: one stat per flush pass
        state = self.read(source)
        if state is None or state.get("since") is None:
            return
        self._write(source, {**state, "last_error": None, "since": None, "updated_at": time.time()})

    def _write(self, source: str, record: dict[str, Any]) -> None:
        path = self.path(source)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
            os.replace(partial, path)  # readers never see half a file
        except OSError as exc:  # a full disk may be why the flush failed: it is logged all the same
            log.warning("collector: cannot keep the flush state of %s: %s", source, exc)
