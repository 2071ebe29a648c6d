"""A batch source's files: which are there, which are new, and what to say when none match.

A file is new unless the ledger holds one at the same path with the same size
and modification time, or with the same checksum: a file touched but not
changed is not taken in twice, and neither is one copied under its own name.
The read that checksums a new file also counts its records (``records``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from weir.errors import NotFoundError, WeirError
from weir.ingest.ledger import FileEntry, Ledger
from weir.ingest.records import scan_file
from weir.project import SourceConfig


def new_files(
    root: Path, source: SourceConfig, ledger: Ledger, paths: Sequence[Path] | None = None
) -> tuple[list[FileEntry], int]:
    """The source's files not yet taken in (by path and checksum); and how many were skipped."""
    known = ledger.known_files(source.name)
    new, skipped = [], 0
    for path in candidates(root, source, paths):
        shown = _shown(path, root)
        stat = path.stat()
        seen = known.get(shown, [])
        if any(size == stat.st_size and mtime == stat.st_mtime_ns for _, size, mtime in seen):
            skipped += 1
            continue
        scanned = scan_file(path, source)  # one read: the checksum and the record count
        if any(c == scanned.checksum for c, _, _ in seen):
            skipped += 1
            continue
        new.append(
            FileEntry(
                shown,
                scanned.checksum,
                stat.st_size,
                stat.st_mtime_ns,
                scanned.records,
                scanned.lines,
            )
        )
    return new, skipped


def candidates(root: Path, source: SourceConfig, paths: Sequence[Path] | None) -> list[Path]:
    if not paths:
        return sorted(p for p in root.glob(source.location) if p.is_file())
    found: list[Path] = []
    for path in paths:
        path = path if path.is_absolute() else (Path.cwd() / path)
        if path.is_dir():
            matched = _matching(source, path)
            if not matched:
                raise unmatched_folder(path, [source])
            found.extend(matched)
        elif path.is_file():
            found.append(path)
        else:
            raise WeirError(f"no file or folder at {path}", "check the --path argument")
    return sorted(set(p.resolve() for p in found))


def _matching(source: SourceConfig, folder: Path) -> list[Path]:
    """The files under ``folder`` whose names match the source's file pattern: those directly
    in it, and those in sub-folders only within the source's own folder (named as in its
    ``location``, e.g. ``crm_interactions/``).

    So a folder laid out as the landing is (a folder per source) gives each source its own
    files only: the carrier API's ``carrier_api/parcel_hops.jsonl`` is not taken for the
    CRM's ``*.jsonl``, and a source with no folder there takes nothing.
    """
    own = Path(source.location).parent.name
    found = []
    for path in folder.rglob(Path(source.location).name):
        within = path.relative_to(folder).parts[:-1]
        if path.is_file() and (not within or folder.name == own or own in within):
            found.append(path)
    return found


def matches_under(source: SourceConfig, path: Path) -> bool:
    """Whether ``path`` is a file, or a folder that holds a file of the source's pattern."""
    path = path if path.is_absolute() else (Path.cwd() / path)
    return not path.is_dir() or bool(_matching(source, path))


def unmatched_folder(folder: Path, sources: Sequence[SourceConfig]) -> WeirError:
    """No file under ``folder`` matches the file pattern of ``sources``: what is there instead."""
    others = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    if not others:
        held = "the folder holds no file"
    else:
        shown = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
        held = f"it holds {len(others)} other file{'s' if len(others) != 1 else ''}: {shown}"
    if len(sources) == 1:
        source = sources[0]
        pattern = Path(source.location).name
        return NotFoundError(
            f"no file under {folder} matches {pattern}, the file pattern of source "
            f"{source.name}; {held}",
            f"give the folder that holds the {pattern} files, or change location "
            f"({source.location}) in sources/{source.name}.yml to match these files",
            kind="file",
            name=pattern,
        )
    patterns = ", ".join(f"{s.name}: {Path(s.location).name}" for s in sources)
    return NotFoundError(
        f"no file under {folder} matches the file pattern of any source ({patterns}); {held}",
        "give the folder that holds the sources' files, or change location in "
        "sources/<name>.yml to match these files",
    )


def _shown(path: Path, root: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)
