"""The archive: rows leaving the lake, as Parquet files with a manifest, verified before they go.

One folder per action: ``<archive>/<layer>/<source>/<action id>/`` holds the
rows as Parquet (``part-N.parquet``, zstd) and ``manifest.json``: the table,
the rows, their time range, each file with its rows, bytes and SHA-256, when
and why (the rule, the cut-off, the run). The manifest is written last, by
renaming a finished temporary file, so a folder without one is an archive a
crash cut short; it is written again from the start. ``verify`` reads every
file back: its checksum, and its row count from the Parquet footer, against
the manifest and against what the lake held.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weir.engine import DataKey, Session, num_rows
from weir.errors import WeirError

MANIFEST = "manifest.json"
FORMAT = "weir-archive/1"


class ArchiveError(WeirError):
    """An archive does not read back as it was written: nothing was destroyed."""

    code = "archive_invalid"
    status = 500


@dataclass(frozen=True)
class Archived:
    folder: Path
    rows: int
    files: tuple[dict[str, Any], ...]


def write_archive(
    session: Session,
    select: str,
    folder: Path,
    manifest: dict[str, Any],
    key: DataKey | None = None,
) -> Archived:
    """Write the rows of ``select`` under ``folder`` with their manifest (``manifest`` + files)."""
    try:
        return _write(session, select, folder, manifest, key)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write the archive in {folder}: {exc.strerror or exc}",
            "check retention.archive_dir in weir.yml (a folder weir may write, with free space);"
            " nothing was destroyed",
        ) from exc


def _write(
    session: Session, select: str, folder: Path, manifest: dict[str, Any], key: DataKey | None
) -> Archived:
    if folder.exists():
        shutil.rmtree(folder)  # a run cut short: start the folder again
    written = [Path(p) for p in session.write_files(select, folder / "data")]
    files: list[dict[str, Any]] = []
    for number, path in enumerate(sorted(written)):
        target = folder / f"part-{number}.parquet"
        path.rename(target)
        files.append(
            {
                "path": target.name,
                "rows": num_rows(target, key),
                "bytes": target.stat().st_size,
                "sha256": _sha256(target),
            }
        )
    shutil.rmtree(folder / "data", ignore_errors=True)
    rows = sum(int(f["rows"]) for f in files)
    document = {
        "format": FORMAT,
        **manifest,
        "rows": rows,
        "files": files,
        "archived_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for f in files:
        _fsync(folder / f["path"])
    temporary = folder / f".{MANIFEST}.tmp"
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _fsync(temporary)
    temporary.rename(folder / MANIFEST)
    _fsync(folder)
    return Archived(folder, rows, tuple(files))


def verify_archive(folder: Path, rows: int | None = None, key: DataKey | None = None) -> Archived:
    """Read an archive back: every file's checksum and rows against its manifest (and ``rows``)."""
    path = folder / MANIFEST
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"the archive in {folder} has no readable manifest ({exc})",
            "run `weir lifecycle run` again: it writes the archive anew",
        ) from None
    files = tuple(document.get("files", []))
    total = 0
    for entry in files:
        part = folder / entry["path"]
        if not part.is_file() or _sha256(part) != entry["sha256"]:
            raise ArchiveError(
                f"{part} does not match its checksum in the archive's manifest",
                "the archive was changed or lost; run `weir lifecycle run` again to write it anew",
            )
        count = num_rows(part, key)
        if count != entry["rows"]:
            raise ArchiveError(
                f"{part} holds {count} rows, its manifest says {entry['rows']}",
                "run `weir lifecycle run` again to write the archive anew",
            )
        total += count
    if total != document.get("rows") or (rows is not None and total != rows):
        raise ArchiveError(
            f"the archive in {folder} holds {total} rows, "
            f"expected {rows if rows is not None else document.get('rows')}",
            "run `weir lifecycle run` again to write the archive anew",
        )
    return Archived(folder, total, files)


def archive_files(folder: Path) -> list[str]:
    """The data files of a verified archive, by path."""
    document = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return [str(folder / entry["path"]) for entry in document["files"]]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
