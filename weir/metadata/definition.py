"""The project's definition as the audit log records it, and who is operating.

The definition is ``weir.yml`` and every file under ``sources/``, ``models/``
and ``metrics/``: who may see what, what is ingested and how KPIs are
computed. The audit log keeps each file's sha256 in the detail of its newest
``config.change`` record and, before any other record, appends a new one
naming the files added, changed and removed since. So every record is read
under the definition that was in force, and opening a project writes nothing.

A file is hashed again only when its size or modification time changed, so
watching costs a ``stat`` per file.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

WATCHED = ("weir.yml", "sources", "models", "metrics")


class ProjectDefinition:
    """The definition files of the project at ``root``, hashed as they change."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[str, tuple[int, int, str]] = {}  # path → (size, mtime_ns, sha256)
        self._lock = threading.Lock()

    def files(self) -> dict[str, str]:
        """Relative path → sha256 of every file that defines the project."""
        found: dict[str, str] = {}
        with self._lock:
            for name in WATCHED:
                for relative, stat, path in _walk(str(self.root / name), name):
                    found[relative] = self._hash(relative, stat, path)
            for gone in set(self._known) - set(found):
                del self._known[gone]
        return found

    def _hash(self, key: str, stat: os.stat_result, path: str) -> str:
        known = self._known.get(key)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        self._known[key] = (stat.st_size, stat.st_mtime_ns, digest)
        return digest


def _walk(path: str, relative: str) -> Iterator[tuple[str, os.stat_result, str]]:
    """(relative path, stat, path) of each file at or under ``path``, hidden ones left out."""
    try:
        entries = os.scandir(path)
    except NotADirectoryError:
        yield relative, os.stat(path), path
        return
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            inner = f"{relative}/{entry.name}"
            if entry.is_dir():
                yield from _walk(entry.path, inner)
            elif entry.is_file():
                yield inner, entry.stat(), entry.path


def operator() -> str:
    """Who runs this process (the CLI, a scheduler): the operating system's user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
