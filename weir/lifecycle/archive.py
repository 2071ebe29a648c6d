"""The archive: rows leaving the lake, as Parquet files with a manifest, verified before they go.

One folder per action: ``<archive>/<layer>/<source>/<action id>/`` (on local disk,
or on the lake's object store) holds the
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weir.engine import DataKey, Session, num_rows
from weir.errors import WeirError
from weir.lake import Storage, storage_for

MANIFEST = "manifest.json"
FORMAT = "weir-archive/1"


class ArchiveError(WeirError):
    """An archive does not read back as it was written: nothing was destroyed."""

    code = "archive_invalid"
    status = 500


@dataclass(frozen=True)
class Archived:
    folder: str  # a local folder's path or an object store's location (s3://bucket/key)
    rows: int
    files: tuple[dict[str, Any], ...]


def write_archive(
    session: Session,
    select: str,
    folder: str | Path,
    manifest: dict[str, Any],
    key: DataKey | None = None,
) -> Archived:
    """Write the rows of ``select`` under ``folder`` with their manifest (``manifest`` + files).

    ``folder`` is a local folder or a location on the lake's object store
    (``retention.archive_dir: s3://bucket/prefix``).
    """
    try:
        storage = storage_for(str(folder), make=False)
        return _write(session, select, storage, str(folder), manifest, key)
    except OSError as exc:
        raise ArchiveError(
            f"cannot write the archive in {folder}: {exc.strerror or exc}",
            "check retention.archive_dir in weir.yml (a folder or bucket weir may write, with"
            " free space); nothing was destroyed",
        ) from exc


def _write(
    session: Session,
    select: str,
    storage: Storage,
    folder: str,
    manifest: dict[str, Any],
    key: DataKey | None,
) -> Archived:
    storage.remove_tree(folder)  # a run cut short: start the folder again
    written = storage.write(session, select, storage.join(folder, "data"))
    files: list[dict[str, Any]] = []
    for number, path in enumerate(sorted(written)):
        name = f"part-{number}.parquet"
        target = storage.join(folder, name)
        storage.move(path, target)
        files.append(
            {
                "path": name,
                "rows": _rows(storage, target, key),
                "bytes": storage.size(target),
                "sha256": _sha256(storage, target),
            }
        )
    storage.remove_tree(storage.join(folder, "data"))
    rows = sum(int(f["rows"]) for f in files)
    document = {
        "format": FORMAT,
        **manifest,
        "rows": rows,
        "files": files,
        "archived_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for f in files:
        storage.sync(storage.join(folder, f["path"]))
    # written last, whole or not at all: a folder without a manifest is a run cut short
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    storage.write_bytes(storage.join(folder, MANIFEST), text.encode("utf-8"), atomic=True)
    storage.sync(folder)
    return Archived(folder, rows, tuple(files))


def verify_archive(
    folder: str | Path, rows: int | None = None, key: DataKey | None = None
) -> Archived:
    """Read an archive back: every file's checksum and rows against its manifest (and ``rows``)."""
    location = str(folder)
    storage = storage_for(location, make=False)
    try:
        document = json.loads(storage.read_bytes(storage.join(location, MANIFEST)))
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"the archive in {folder} has no readable manifest ({exc})",
            "run `weir lifecycle run` again: it writes the archive anew",
        ) from None
    files = tuple(document.get("files", []))
    total = 0
    for entry in files:
        part = storage.join(location, entry["path"])
        if not storage.exists(part) or _sha256(storage, part) != entry["sha256"]:
            raise ArchiveError(
                f"{part} does not match its checksum in the archive's manifest",
                "the archive was changed or lost; run `weir lifecycle run` again to write it anew",
            )
        count = _rows(storage, part, key)
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
    return Archived(location, total, files)


def archive_files(folder: str | Path) -> list[str]:
    """The data files of a verified archive, by location."""
    location = str(folder)
    storage = storage_for(location, make=False)
    document = json.loads(storage.read_bytes(storage.join(location, MANIFEST)))
    return [storage.join(location, entry["path"]) for entry in document["files"]]


def _rows(storage: Storage, location: str, key: DataKey | None) -> int:
    with storage.open(location) as source:
        return num_rows(source, key)


def _sha256(storage: Storage, location: str) -> str:
    digest = hashlib.sha256()
    with storage.open(location) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
