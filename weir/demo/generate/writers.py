"""Writing records to files: line-based text (CSV, JSON lines, XML), JSON arrays and Parquet.

Each writer counts what it writes into the source's ledger at the moment the
file is written, so the manifest describes exactly the files on disk. Files
are written whole, bytes straight from Arrow buffers, in a fixed order; nothing
depends on the clock or on dictionary order, so a run is byte-for-byte
repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from weir.demo.generate.dirt import code
from weir.demo.generate.manifest import SourceLedger
from weir.demo.generate.records import DUPLICATE, QUARANTINED, Lines

FileName = Callable[[int], str]


class FileSink:
    """The files of one line-based source, keyed by an int (a day, an hour, a store-day).

    Lines may arrive for a file before it is due (a copy or a late event bound
    for a later file); they wait until ``flush`` reaches their key. Every
    expected key gets a file, empty when nothing went to it, so a day or hour
    without records is still visibly delivered.
    """

    def __init__(
        self,
        folder: Path,
        ledger: SourceLedger,
        name: FileName,
        keys: Iterable[int],
        *,
        header: bytes = b"",
        footer: bytes = b"",
    ) -> None:
        self.folder = folder
        self.ledger = ledger
        self.name = name
        self.keys = sorted(set(keys))
        self.header = header
        self.footer = footer
        self.headers: dict[int, bytes] = {}
        self.resend: set[int] = set()
        self._known = set(self.keys)
        self._next = 0
        self._pending: dict[int, list[Lines]] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, lines: Lines) -> None:
        """Queue ``lines`` (in file order) for their files."""
        if not len(lines):
            return
        keys = lines.key
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        stops = np.r_[starts[1:], len(keys)]
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            key = int(keys[start])
            if key not in self._known:
                raise ValueError(f"no file {key} for {self.folder.name}")
            if self._next and key <= self.keys[self._next - 1]:
                raise ValueError(f"file {key} of {self.folder.name} was already written")
            self._pending.setdefault(key, []).append(lines.slice(start, stop))

    def flush(self, below: int | None = None) -> None:
        """Write every file whose key is below ``below`` (all of them when None)."""
        while self._next < len(self.keys) and (below is None or self.keys[self._next] < below):
            key = self.keys[self._next]
            self._write(key, self._pending.pop(key, []))
            self._next += 1
        if below is None and self._pending:
            raise ValueError(f"lines left for unknown files of {self.folder.name}")

    def _write(self, key: int, chunks: list[Lines]) -> None:
        lines = Lines.concat(chunks)
        if len(chunks) > 1:
            lines = lines.take(np.argsort(lines.rank, kind="stable"))
        header = self.headers.get(key, self.header)
        path = self.folder / self.name(key)
        _write_bytes(path, header, lines.payload(), self.footer)
        status, kind = lines.status, lines.kind
        if key in self.headers:
            # A header that is not the contract's quarantines every line of the file.
            status = np.full(len(lines), QUARANTINED, np.int8)
            kind = np.full(len(lines), code("renamed_column"), np.int8)
        self.ledger.files += 1
        self.ledger.count(status, kind)
        if key in self.resend:
            self._write_resent(path, header, lines, status, kind)

    def _write_resent(self, path: Path, header: bytes, lines: Lines, status: np.ndarray, kind: np.ndarray) -> None:
        """A byte copy of ``path``: its valid records become duplicates, its bad ones stay bad."""
        copy = path.with_name(path.stem + "_resent" + path.suffix)
        copy.write_bytes(path.read_bytes())
        status = status.copy()
        kind = kind.copy()
        again = status != QUARANTINED
        status[again] = DUPLICATE
        kind[again] = code("resent_file")
        self.ledger.files += 1
        self.ledger.count(status, kind)


def _write_bytes(path: Path, header: bytes, body: memoryview, footer: bytes) -> None:
    with path.open("wb") as handle:
        if header:
            handle.write(header)
        handle.write(body)
        if footer:
            handle.write(footer)


def write_json_array(path: Path, lines: Lines, ledger: SourceLedger) -> None:
    """The lines (JSON objects) as one JSON array, an element per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    elements = ["  " + str(t).rstrip("\n") for t in lines.text.to_pylist()]
    path.write_text("[\n" + ",\n".join(elements) + ("\n" if elements else "") + "]\n", encoding="utf-8")
    ledger.files += 1
    ledger.count(lines.status, lines.kind)


def write_parquet(path: Path, table: pa.Table, status: np.ndarray, kind: np.ndarray, ledger: SourceLedger) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="snappy")
    ledger.files += 1
    ledger.count(status, kind)
