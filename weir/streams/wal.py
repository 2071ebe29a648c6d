"""A write-ahead log: append-only segment files, group commit, torn-tail recovery.

One log per collected source lives in ``.weir/wal/<source>/`` as segment files
named by the position of their first byte (``00000000000000000000.wal``).
A position is a byte offset into the source's whole log, so positions only
grow, survive segment deletion and fit in a string (``Ledger.positions``).

Each record is framed as ``length (u32) | crc32 (u32) | payload``. A crash
can leave the last record half-written; opening the log finds the first frame
that is short or fails its checksum and cuts the file there (nothing after it
was ever acknowledged: an append is acknowledged only after its ``fsync``).

Appends are group-committed: callers hand their records to one writer thread,
which writes everything queued, calls ``fsync`` once (and fsyncs the folder
when it created a segment), and then completes every waiting append.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from weir.errors import LockedError, WeirError

FRAME = struct.Struct("<II")  # payload length, crc32 of the payload
SUFFIX = ".wal"
MAX_RECORD = (1 << 31) - 1
SEAL: list[bytes] = []  # queued by ``seal``: start a new segment (compared by identity)


@dataclass(frozen=True)
class Appended:
    """Where one append landed: its records occupy ``[start, end)``; ``positions`` are their starts."""

    start: int
    end: int
    positions: tuple[int, ...]


Done = Callable[[Appended | BaseException], None]


class LogCorrupted(WeirError):
    """A sealed log segment does not read back as it was written."""


class WriteAheadLog:
    """One append-only log in ``folder``; thread-safe; one writer thread per log."""

    def __init__(
        self, folder: Path, segment_bytes: int = 64 << 20, fsync: bool = True, start_at: int = 0
    ) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.fsync_enabled = fsync
        self.fsyncs = 0  # how many times the writer synced: fewer than appends under load
        folder.mkdir(parents=True, exist_ok=True)
        self._owner = _own(folder)  # one writer per log, across processes
        self._lock = threading.Condition()
        self._queue: deque[tuple[Sequence[bytes], Done]] = deque()
        self._closed = False
        self._failed: BaseException | None = None
        self.truncated_bytes = self._recover(start_at)
        self._thread = threading.Thread(
            target=self._write_loop, name=f"wal:{folder.name}", daemon=True
        )
        self._thread.start()

    # -- opening --------------------------------------------------------------------
    def _segments(self) -> list[tuple[int, Path]]:
        return segments(self.folder)

    def _recover(self, start_at: int) -> int:
        """Open the last segment for appending, cutting a torn tail; returns bytes cut."""
        segments = self._segments()
        cut = 0
        if not segments:
            self._create_segment(start_at)
            return 0
        for (base, path), (next_base, _) in itertools.pairwise(segments):
            if base + path.stat().st_size != next_base:
                raise LogCorrupted(
                    f"the log in {self.folder} has a gap after segment {path.name}",
                    "restore the missing segment, or move the folder away to start a new log",
                )
        base, path = segments[-1]
        size = path.stat().st_size
        valid = _valid_prefix(path)
        if valid < size:
            with path.open("r+b") as handle:
                handle.truncate(valid)
                handle.flush()
                os.fsync(handle.fileno())
            cut = size - valid
        self._base = base
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = valid
        self._end = base + valid
        return cut

    def _create_segment(self, base: int) -> None:
        path = self.folder / f"{base:020d}{SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._base = base
        self._size = 0
        self._end = base
        if self.fsync_enabled:
            _fsync_dir(self.folder)  # the new file's name is durable before any record in it

    # -- state ----------------------------------------------------------------------
    @property
    def end(self) -> int:
        """The position after the last durable record."""
        with self._lock:
            return self._end

    @property
    def start(self) -> int:
        """The position of the oldest record still kept."""
        segments = self._segments()
        return segments[0][0] if segments else self.end

    def size_bytes(self) -> int:
        """Bytes the log's segments take on disk."""
        return sum(path.stat().st_size for _, path in self._segments() if path.exists())

    # -- appending --------------------------------------------------------------------
    def submit(self, payloads: Sequence[bytes], done: Done) -> None:
        """Queue records; ``done`` is called from the writer thread once they are durable."""
        if any(not 0 < len(payload) <= MAX_RECORD for payload in payloads):
            raise WeirError("a log record must hold 1 byte to 2 GiB", "send smaller events")
        with self._lock:
            if self._closed:
                raise WeirError("the log is closed", "the server is stopping: retry shortly")
            if self._failed is not None:
                raise WeirError(
                    f"the log cannot be written: {self._failed}",
                    "free disk space or fix the folder's permissions, then restart",
                )
            self._queue.append((payloads, done))
            self._lock.notify()

    def seal(self) -> None:
        """Start a new segment once what is queued is written, so ``release`` can delete the
        current one as soon as the lake holds it (personal data does not linger in a log
        that fills slowly)."""
        future: Future[None] = Future()

        def done(result: Appended | BaseException) -> None:
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(None)

        with self._lock:
            if self._closed or self._failed is not None:
                return
            self._queue.append((SEAL, done))
            self._lock.notify()
        future.result()

    def append(self, payloads: Sequence[bytes]) -> Appended:
        """Append records and wait until they are on disk."""
        future: Future[Appended] = Future()

        def done(result: Appended | BaseException) -> None:
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        self.submit(payloads, done)
        return future.result()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue and self._closed:
                    return
                group = list(self._queue)
                self._queue.clear()
            try:
                results = self._write_group(group)
            except BaseException as exc:  # a failed write: no append of the group is acknowledged
                with self._lock:
                    self._failed = exc
                    failed = group + list(self._queue)
                    self._queue.clear()
                for _, done in failed:
                    done(exc)
                continue
            for (_, done), result in zip(group, results, strict=True):
                done(result)

    def _write_group(self, group: list[tuple[Sequence[bytes], Done]]) -> list[Appended]:
        results: list[Appended] = []
        buffer = bytearray()
        for payloads, _ in group:
            positions: list[int] = []
            if payloads is SEAL:
                if self._size + len(buffer) > 0:
                    self._write(buffer)
                    buffer.clear()
                    self._roll()
                results.append(Appended(self._base, self._base, ()))
                continue
            start = self._base + self._size + len(buffer)
            for payload in payloads:
                frame_size = FRAME.size + len(payload)
                if self._size + len(buffer) + frame_size > self.segment_bytes and (
                    self._size + len(buffer) > 0
                ):
                    self._write(buffer)
                    buffer.clear()
                    self._roll()
                    if not positions:
                        start = self._base
                positions.append(self._base + self._size + len(buffer))
                buffer += FRAME.pack(len(payload), zlib.crc32(payload))
                buffer += payload
            end = self._base + self._size + len(buffer)
            results.append(Appended(start, end, tuple(positions)))
        self._write(buffer)
        if self.fsync_enabled:
            os.fdatasync(self._fd)
            self.fsyncs += 1
        with self._lock:
            self._end = self._base + self._size
        return results

    def _write(self, buffer: bytes | bytearray) -> None:
        view = memoryview(buffer)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written

    def _roll(self) -> None:
        """Seal the current segment (on disk) and start the next one."""
        if self.fsync_enabled:
            os.fdatasync(self._fd)
            self.fsyncs += 1
        os.close(self._fd)
        self._create_segment(self._base + self._size)

    # -- reading ----------------------------------------------------------------------
    def read(self, start: int, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(position, payload) of each durable record from ``start`` (a record's position) to ``end``."""
        stop = self.end if end is None else min(end, self.end)
        return read_log(self.folder, start, stop)

    def release(self, position: int) -> int:
        """Delete whole segments that end at or before ``position``; returns how many."""
        segments = self._segments()
        deleted = 0
        with self._lock:
            active = self._base
        for (base, path), (next_base, _) in itertools.pairwise(segments):
            if next_base <= position and base != active:
                path.unlink(missing_ok=True)
                deleted += 1
        if deleted and self.fsync_enabled:
            _fsync_dir(self.folder)
        return deleted

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        os.close(self._fd)
        os.close(self._owner)  # closing the descriptor releases the lock


def segments(folder: Path) -> list[tuple[int, Path]]:
    """The log's segment files in ``folder``, as (position of their first byte, path), in order."""
    return sorted(
        (int(path.stem), path) for path in folder.glob(f"*{SUFFIX}") if path.stem.isdigit()
    )


def read_log(folder: Path, start: int, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(position, payload) of the records of the log in ``folder`` from ``start`` to ``stop``.

    With ``stop`` (a durable end) every record before it must read back whole. Without
    it the log is read as another process sees it while its writer appends: reading
    ends at the first record not yet wholly written.
    """
    found = segments(folder)
    for index, (base, path) in enumerate(found):
        last = index + 1 == len(found)
        limit = found[index + 1][0] if not last else (stop if stop is not None else None)
        if (limit is not None and limit <= start) or (stop is not None and base >= stop):
            continue
        offset = max(start - base, 0)
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read() if limit is None else handle.read(max(0, limit - base - offset))
        at = 0
        while at < len(data):
            whole = at + FRAME.size <= len(data)
            length, crc = FRAME.unpack_from(data, at) if whole else (0, 0)
            payload = data[at + FRAME.size : at + FRAME.size + length]
            if not whole or length == 0 or len(payload) != length or zlib.crc32(payload) != crc:
                if stop is None and last:
                    return  # the writer is still writing this record
                raise LogCorrupted(
                    f"{path.name}: the record at {base + offset + at} is cut short or fails its checksum",
                    "the disk may be failing; move the segment away and restart",
                )
            yield base + offset + at, payload
            at += FRAME.size + length


def peek_log(folder: Path, start: int) -> Iterator[tuple[int, int]]:
    """(position, first payload byte) of each whole record of ``folder``'s log from ``start``.

    For a reader in another process while the writer appends (``weir status``):
    it takes no lock, holds one record at a time, checks no checksum, and a
    record not yet wholly written (a torn tail) ends it.
    """
    found = segments(folder)
    for index, (base, path) in enumerate(found):
        following = found[index + 1][0] if index + 1 < len(found) else None
        if following is not None and following <= start:
            continue
        with path.open("rb") as handle:
            at = base
            while True:
                header = handle.read(FRAME.size)
                if len(header) < FRAME.size:
                    break
                length, _ = FRAME.unpack(header)
                payload = handle.read(length)
                if length == 0 or len(payload) < length:
                    break
                if at >= start:
                    yield at, payload[0]
                at += FRAME.size + length


def _own(folder: Path) -> int:
    """Lock ``folder``'s log for this process; a second writer would interleave records."""
    return hold_lock_file(
        folder / "writer.lock",
        lambda holder: f"the log in {folder} is being written by {holder}",
        "run one `weir serve` per project (or stop the other one first)",
    )


def hold_lock_file(path: Path, message: Callable[[str], str], fix: str) -> int:
    """Lock ``path`` for this process's life and write ``pid N`` into it; return its descriptor.

    The kernel lets the lock go when the process dies (or closes the descriptor),
    so a killed holder never leaves it held. When another process holds it,
    raise LockedError with ``message(holder)`` (the ``pid N`` it wrote) and ``fix``.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 100).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise LockedError(message(holder), fix) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}".encode())
    return fd


def _valid_prefix(path: Path) -> int:
    """Bytes of ``path`` up to the end of its last whole, checksum-valid record."""
    valid = 0
    with path.open("rb") as handle:
        while True:
            header = handle.read(FRAME.size)
            if len(header) < FRAME.size:
                return valid
            length, crc = FRAME.unpack(header)
            if length == 0:  # never written: zeros a crash left past the end of the data
                return valid
            payload = handle.read(length)
            if len(payload) != length or zlib.crc32(payload) != crc:
                return valid
            valid += FRAME.size + length


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
