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
import threading
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
                path = self.root / name
                if path.is_file():
                    paths = [path]
                elif path.is_dir():
                    paths = sorted(p for p in path.rglob("*") if p.is_file())
                else:
                    paths = []
                for file in paths:
                    relative = file.relative_to(self.root)
                    if any(part.startswith(".") for part in relative.parts):
                        continue
                    found[relative.as_posix()] = self._hash(file, relative.as_posix())
            for gone in set(self._known) - set(found):
                del self._known[gone]
        return found

    def _hash(self, file: Path, key: str) -> str:
        stat = file.stat()
        known = self._known.get(key)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        self._known[key] = (stat.st_size, stat.st_mtime_ns, digest)
        return digest


def operator() -> str:
    """Who runs this process (the CLI, a scheduler): the operating system's user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
