"""The verification scan of an erasure: is any of a person's values still readable anywhere?

Walks every file under a folder (the project's state folder, and the lake
when it lives elsewhere: another folder or an object store) and looks for
each value, case-insensitively, in what the file holds as bytes, and also in
what it holds once decoded, because a compressed format hides a value from a
byte search:

- Parquet (lake data files): every text column's values, decoded, and every
  column chunk's statistics (its smallest and largest value); a file encrypted
  at rest is decrypted with the lake's data key first (without the key it is
  said to be undecoded);
- Avro (Iceberg manifests, manifest lists): each block, decompressed (the
  null and deflate codecs; a file in another codec is searched as bytes and
  said to be), for each value's first 16 characters: a manifest keeps a text
  column's bounds truncated to that;
- everything else (the SQLite database with its ``-wal`` and ``-journal``
  files and free pages, write-ahead log segments, metadata JSON, any DuckDB
  file): the raw bytes.

A hit names the file, how it was found and which value it was (by its label,
e.g. ``customers.email``): never the value itself.

The walk runs in a child process. SQLite holds POSIX locks on its database
files, and POSIX drops every lock a process holds on a file when the process
closes *any* descriptor of it: reading the database's bytes in the process
that has it open would silently release its connections' locks, and another
process's writer could then reset the shared write-ahead-log index under
them, leaving them reading, or worse writing over, pages that are no longer
there. The child holds no connection, so its reads disturb nothing. The
values reach it on its standard input, never its command line.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from weir.engine import DataKey
from weir.errors import ProjectError
from weir.lake import storage_for

AVRO_MAGIC = b"Obj\x01"
BOUND_CHARACTERS = 16  # Iceberg's default truncate(16) of a manifest's text bounds


@dataclass(frozen=True)
class Hit:
    """One value found in one file: where (relative path), how (bytes, parquet, avro) and which."""

    file: str
    found_in: str
    value: str  # the label of the value, never the value

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "found_in": self.found_in, "value": self.value}


@dataclass(frozen=True)
class ScanResult:
    files: int
    bytes: int
    hits: tuple[Hit, ...]
    undecoded: tuple[str, ...]  # files searched as raw bytes only (an unknown Avro codec)

    @property
    def clean(self) -> bool:
        return not self.hits

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "hits": [hit.as_dict() for hit in self.hits],
            "undecoded": list(self.undecoded),
            "clean": self.clean,
        }

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> ScanResult:
        return cls(
            int(saved["files"]),
            int(saved["bytes"]),
            tuple(Hit(**hit) for hit in saved["hits"]),
            tuple(saved["undecoded"]),
        )


def scan(
    root: Path,
    values: Mapping[str, str],
    skip: Collection[Path] = (),
    whole_only: Collection[str] = (),
    key: DataKey | None = None,
    also: Sequence[str] = (),
) -> ScanResult:
    """Look for every value (label -> value) in every file under ``root``, but those in ``skip``.

    ``whole_only``: labels of values whose first 16 characters other people's data
    shares (a stock phrase), looked for whole in manifests too. ``key``: the lake's
    data key, when its files are encrypted at rest. ``also``: other places to walk,
    a folder or an object store's prefix (a lake outside ``root``, e.g.
    ``s3://bucket/prefix``; the child reaches the store with this process's AWS
    settings). The files are read by a child process (see the module's docstring).
    """
    request = {
        "root": str(root),
        "values": dict(values),
        "skip": [str(path) for path in skip],
        "whole_only": list(whole_only),
        "key": key.secret.hex() if key is not None else None,  # on stdin, never argv
        "also": list(also),
    }
    child = subprocess.run(
        [sys.executable, "-m", "weir.governance.proof"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # a whole answer is the scan's, whatever happened to the child after writing it
        return ScanResult.from_dict(json.loads(child.stdout))
    except (ValueError, KeyError, TypeError):
        last = (child.stderr.strip().splitlines() or [f"exit status {child.returncode}"])[-1]
        raise ProjectError(
            f"the verification scan of {root} stopped: {last}",
            "run the command again; the erasure itself is done and the scan repeats it safely",
        ) from None


def scan_here(
    root: Path,
    values: Mapping[str, str],
    skip: Collection[Path] = (),
    whole_only: Collection[str] = (),
    key: DataKey | None = None,
    also: Sequence[str] = (),
) -> ScanResult:
    """``scan`` in this process: only where no database under ``root`` is open here."""
    needles = {label: value.lower() for label, value in values.items() if value.strip()}
    whole = set(whole_only)
    skipped = {path.resolve() for path in skip}
    hits: list[Hit] = []
    undecoded: list[str] = []
    files = total = 0
    for shown, data in _walk(root, skipped, also):
        files += 1
        total += len(data)
        found: dict[str, str] = {}
        lowered = data.lower()
        for label, needle in needles.items():
            if needle.encode("utf-8") in lowered:
                found.setdefault(label, "bytes")
        if data.startswith(b"PAR1") and data.endswith(b"PAR1"):
            for label in _in_parquet(data, needles):
                found.setdefault(label, "parquet")
        elif data.startswith(b"PARE") and data.endswith(b"PARE"):  # encrypted, footer and all
            if key is None:
                undecoded.append(shown)
            else:
                for label in _in_parquet(data, needles, key):
                    found.setdefault(label, "parquet")
        elif data.startswith(AVRO_MAGIC):
            blocks = _avro_blocks(data)
            if blocks is None:
                undecoded.append(shown)
            else:
                for label, needle in needles.items():
                    # Iceberg keeps a text column's bounds truncated to their first 16 characters
                    cut = None if label in whole else BOUND_CHARACTERS
                    prefix = needle[:cut].encode("utf-8")
                    if any(prefix in block.lower() for block in blocks):
                        found.setdefault(label, "avro")
        hits += [Hit(shown, how, label) for label, how in sorted(found.items())]
    return ScanResult(files, total, tuple(hits), tuple(undecoded))


def _walk(
    root: Path, skipped: Collection[Path], also: Sequence[str]
) -> Iterator[tuple[str, bytes]]:
    """Every file under ``root`` (by its path under it), then under each of ``also`` (by its
    location), with its bytes."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.resolve() in skipped:
            continue
        try:
            yield str(path.relative_to(root)), path.read_bytes()
        except FileNotFoundError:  # removed while the scan walked (a flush, a clean-up)
            continue
    for place in also:
        storage = storage_for(place, make=False)
        for stored in storage.files(place):
            try:
                yield stored.location, storage.read_bytes(stored.location)
            except FileNotFoundError:
                continue


def _in_parquet(data: bytes, needles: Mapping[str, str], key: DataKey | None = None) -> set[str]:
    """The labels whose value a Parquet file holds, in a text column or a chunk's statistics."""
    found: set[str] = set()
    if not needles:
        return found
    try:
        decryption = key.decryption() if key is not None else None
        parquet = pq.ParquetFile(io.BytesIO(data), decryption_properties=decryption)
        table = parquet.read()
    except (pa.ArrowException, OSError):
        return found  # not readable as Parquet: the byte search above is what it gets
    # one search for every value at once per column; which value it was, only on a hit
    anyone = "|".join(_escaped(needle) for needle in needles.values())
    for column in table.columns:
        for text in _texts(column):
            if not pc.any(pc.match_substring_regex(text, anyone, ignore_case=True)).as_py():
                continue
            lowered = pc.utf8_lower(text)
            for label, needle in needles.items():
                if label not in found and pc.any(pc.match_substring(lowered, needle)).as_py():
                    found.add(label)
    metadata = parquet.metadata
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max:
                continue
            for bound in (stats.min, stats.max):
                text = (
                    bound.decode("utf-8", "replace") if isinstance(bound, bytes) else str(bound)
                ).lower()
                found.update(label for label, needle in needles.items() if needle in text)
    return found


def _escaped(text: str) -> str:
    """``text`` as a regular expression (RE2) matching itself."""
    return "".join(f"\\{ch}" if ch in _SPECIAL else ch for ch in text)


_SPECIAL = frozenset(".^$*+?()[]{}|\\-")


def _texts(column: pa.ChunkedArray) -> Iterator[pa.ChunkedArray]:
    """The text inside a column: itself, or the text items of a list column."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        yield column
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        yield column.cast(pa.string(), safe=False)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        yield from _texts(pc.list_flatten(column))
    elif pa.types.is_struct(kind):
        for index in range(kind.num_fields):
            yield from _texts(pc.struct_field(column, [index]))


def _avro_blocks(data: bytes) -> list[bytes] | None:
    """The decompressed blocks of an Avro container file (header included); None: unknown codec."""
    at = len(AVRO_MAGIC)
    metadata: dict[str, bytes] = {}
    try:
        while True:
            count, at = _long(data, at)
            if count == 0:
                break
            if count < 0:
                _, at = _long(data, at)  # a negative count is followed by the block's size
                count = -count
            for _ in range(count):
                key, at = _bytes(data, at)
                value, at = _bytes(data, at)
                metadata[key.decode()] = value
        sync = data[at : at + 16]
        at += 16
        codec = metadata.get("avro.codec", b"null").decode()
        if codec not in ("null", "deflate"):
            return None
        blocks = [data[:at]]
        while at < len(data):
            _, at = _long(data, at)
            size, at = _long(data, at)
            block = data[at : at + size]
            at += size
            blocks.append(block if codec == "null" else zlib.decompress(block, -15))
            if data[at : at + 16] != sync:
                return None
            at += 16
        return blocks
    except (IndexError, ValueError, zlib.error, struct.error, UnicodeDecodeError):
        return None


def _long(data: bytes, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at ``at``; and where the next field starts."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7
        if shift > 63:
            raise ValueError("an Avro long longer than 10 bytes")


def _bytes(data: bytes, at: int) -> tuple[bytes, int]:
    size, at = _long(data, at)
    if size < 0 or at + size > len(data):
        raise ValueError("an Avro string past the end of the file")
    return data[at : at + size], at + size


def _main() -> None:
    request = json.load(sys.stdin)
    result = scan_here(
        Path(request["root"]),
        request["values"],
        [Path(path) for path in request["skip"]],
        request["whole_only"],
        DataKey(bytes.fromhex(request["key"])) if request.get("key") else None,
        request.get("also", []),
    )
    json.dump(result.as_dict(), sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    _main()
    # The answer is out: leave without the interpreter's teardown, in which a native
    # library's worker threads can abort the process ("terminate called without an
    # active exception") after the scan has finished.
    os._exit(0)
