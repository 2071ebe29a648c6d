"""Writing records to files: line-based text (CSV, JSON lines, XML), JSON arrays and Parquet.

Each writer counts what it writes into the source's ledger when it hands the
file over, so the manifest describes exactly the files on disk. Bytes go
straight from Arrow buffers to the file, in a fixed order; nothing depends on
the clock or on thread timing, so a run is byte-for-byte repeatable. Creating
tens of thousands of files is slow on many disks, so the writing itself runs
on a background thread while the next day is generated.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from weir.demo.generate.dirt import code
from weir.demo.generate.manifest import SourceLedger
from weir.demo.generate.records import DUPLICATE, QUARANTINED, VOID, Lines

FileName = Callable[[int], str]
Chunk = bytes | memoryview


class FileWriter:
    """Writes files on a background thread, with a bounded backlog so memory stays flat.

    One thread: several threads writing at once spend more time in the kernel
    contending for the file system than they save.
    """

    def __init__(self, threads: int = 1, backlog: int = 256) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="weir-generate")
        self._pending: deque[Future[None]] = deque()
        self._backlog = backlog

    def write(self, path: Path, chunks: Sequence[Chunk]) -> None:
        self._submit(_write_chunks, path, chunks)

    def call(self, job: Callable[..., None], *args: Any) -> None:
        self._submit(job, *args)

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        while len(self._pending) >= self._backlog:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job, *args))

    def close(self) -> None:
        """Wait for every file; re-raise the first failure."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _write_chunks(path: Path, chunks: Sequence[Chunk]) -> None:
    with path.open("wb") as handle:
        for chunk in chunks:
            if len(chunk):
                handle.write(chunk)


class FileSink:
    """The files of one line-based source, keyed by an int (a day, an hour, a store-day).

    Lines may arrive for a file before it is due (a copy or a late event bound
    for a later file); they wait until ``flush`` reaches their key. Every
    expected key gets a file, empty when nothing went to it, so a day or hour
    without records is still visibly delivered.
    """

    def __init__(
        self,
        writer: FileWriter,
        folder: Path,
        ledger: SourceLedger,
        name: FileName,
        keys: Iterable[int],
        *,
        header: bytes = b"",
        footer: bytes = b"",
    ) -> None:
        self.writer = writer
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

    def add(self, *parts: Lines) -> None:
        """Queue lines for their files; each part must be grouped by key."""
        for lines in parts:
            if not len(lines):
                continue
            keys = lines.key
            if np.any(keys[1:] < keys[:-1]):
                lines = lines.in_file_order()
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
        parts = _in_rank_order(chunks)
        header = self.headers.get(key, self.header)
        path = self.folder / self.name(key)
        body: list[Chunk] = [header, *(p.payload() for p in parts), self.footer]
        self.writer.write(path, body)
        if len(parts) == 1:
            status, kind = parts[0].status, parts[0].kind
        else:
            status = np.concatenate([p.status for p in parts]) if parts else np.empty(0, np.int8)
            kind = np.concatenate([p.kind for p in parts]) if parts else np.empty(0, np.int8)
        if key in self.headers:
            # A header that is not the contract's quarantines every line of the file.
            written = status != VOID
            status = np.where(written, QUARANTINED, VOID).astype(np.int8)
            kind = np.where(written, code("renamed_column"), -1).astype(np.int8)
        self.ledger.files += 1
        self.ledger.count(status, kind)
        if key in self.resend:
            # The same bytes again: valid records become duplicates, bad ones stay bad.
            self.writer.write(path.with_name(path.stem + "_resent" + path.suffix), body)
            again = (status == 0) | (status == DUPLICATE)
            self.ledger.files += 1
            self.ledger.count(
                np.where(again, DUPLICATE, status).astype(np.int8),
                np.where(again, code("resent_file"), kind).astype(np.int8),
            )


def _in_rank_order(chunks: list[Lines]) -> list[Lines]:
    """The chunks of one file in rank order; only chunks whose ranks interleave are merged.

    A file's own records come in one sorted chunk, late arrivals and copies in
    small ones ranked after it, so the big chunk is never copied.
    """
    if len(chunks) == 1 and _sorted(chunks[0].rank):
        return chunks
    if len(chunks) <= 1:
        return [c.take(np.argsort(c.rank, kind="stable")) for c in chunks]
    groups: list[list[Lines]] = []
    high = -np.inf
    for chunk in sorted(chunks, key=lambda c: float(c.rank.min())):
        if groups and float(chunk.rank.min()) <= high:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
        high = max(high, float(chunk.rank.max()))
    out = []
    for group in groups:
        merged = Lines.concat(group)
        out.append(
            merged if _sorted(merged.rank) else merged.take(np.argsort(merged.rank, kind="stable"))
        )
    return out


def _sorted(values: np.ndarray) -> bool:
    return not np.any(values[1:] < values[:-1])


def write_json_array(
    writer: FileWriter, path: Path, parts: Sequence[Lines], ledger: SourceLedger
) -> None:
    """The lines (JSON objects) as one JSON array, an element per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = Lines.concat(_in_rank_order(list(parts)))
    elements = ["  " + str(t).rstrip("\n") for t in lines.text.to_pylist()]
    text = "[\n" + ",\n".join(elements) + ("\n" if elements else "") + "]\n"
    writer.write(path, [text.encode("utf-8")])
    ledger.files += 1
    ledger.count(lines.status, lines.kind)


def write_parquet(
    writer: FileWriter,
    path: Path,
    table: pa.Table,
    status: np.ndarray,
    kind: np.ndarray,
    ledger: SourceLedger,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer.call(_write_parquet, path, table)
    ledger.files += 1
    ledger.count(status, kind)


def _write_parquet(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="snappy")
