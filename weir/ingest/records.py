"""How many records a landed file holds, counted from its bytes apart from any parser.

A batch's ``received`` is the number of records in its files, not the number
its reader returned: a reader that drops a record without a word (DuckDB's
CSV scanner loses a last line whose quote never closes when it reads five or
more files at once) then shows as a file whose records are not all accounted
for, and weir quarantines what is missing (``lost_records``) instead of
losing it.

The count is taken while the file is read for its checksum (``scan_file``), so
a file is read from disk once for both, a chunk at a time; nothing holds a
whole file. CSV records are counted the way an RFC 4180 reader splits them: a
quote opens a quoted field only at the start of a field, a doubled quote
inside one is a literal quote, a newline inside one does not end the record,
an empty line is no record, and a quote still open at the end of the file
makes the rest of the file one (malformed) record. The first record is the
header. JSON lines count their lines that are not blank; Parquet files count
the rows their footer declares. JSON arrays and XML documents are parsed
whole by their reader, which yields every element or keeps the whole file as
one record, so their count is the reader's (``None`` here).
"""

from __future__ import annotations

import codecs
import hashlib
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from weir.project import SourceConfig

CHUNK = 1 << 20
# what a blank JSON line may hold (the JSON reader skips the same lines)
JSON_BLANK = b" \t\r"

Text = TypeVar("Text", str, bytes)


@dataclass(frozen=True)
class Record(Generic[Text]):
    """One record of a file as its bytes split it: where it starts and its text."""

    line: int  # the line it starts on, 1-based
    text: Text  # its line(s), without the newline that ends it
    unterminated: bool = False  # a quote opened in it never closes


class CsvSplitter(Generic[Text]):
    """Splits CSV text fed in pieces into records, keeping only the count unless asked.

    Bytes are counted in bulk (``_counted``, a few vector operations per
    piece); text (UTF-16) and the rare piece a quoted field runs past are
    walked line by line, the lines between two quotes still counted in bulk.
    """

    def __init__(
        self,
        newline: Text,
        cr: Text,
        quote: Text,
        delimiter: Text,
        keep: bool = False,
        starts: bool = False,
        last: int | None = None,
    ) -> None:
        self.nl: Text = newline
        self.cr: Text = cr
        self.q: Text = quote
        self.d: Text = delimiter
        self.empty: Text = newline[:0]
        self.keep = keep or starts  # walk line by line, keeping texts or starts
        self.texts = keep
        self.records = 0
        self.inside = False  # within a quoted field at the end of what was fed
        self.pending: Text = newline[:0]  # a line not yet ended by a newline
        self.line = 0  # lines ended so far
        self.start = 0  # the line the open record started on
        # DuckDB numbers lines without the newlines inside quoted fields: its number for the
        # line after the last newline outside quotes, and for the open record's first line
        self.reader_line = 1
        self.reader_start = 0
        # each data record's start, the header's left out: the reader's line and the file's
        self.reader_starts = array("q")
        self.line_starts = array("q")
        self.parts: list[Text] = []  # the open record's lines (``keep`` only)
        self.kept: deque[Record[Text]] = deque(maxlen=last)  # the data records (``keep``)

    def feed(self, piece: Text) -> None:
        buffer = self.pending + piece if self.pending else piece
        end = buffer.rfind(self.nl) + 1
        self.pending = buffer[end:]
        if not self.keep and not self.inside and isinstance(buffer, bytes):
            newlines = buffer.count(b"\n", 0, end)
            if (
                buffer.find(self.q, 0, end) < 0
                and buffer.find(b"\n\n", 0, end) < 0
                and buffer.find(b"\n\r\n", 0, end) < 0
                and not buffer.startswith((b"\n", b"\r\n"))
            ):  # no quote and no empty line: a record per line
                self.records += newlines
                self.line += newlines
                return
            if self._counted(buffer[:end]):
                self.line += newlines
                return
        lines = buffer[:end].split(self.nl)
        lines.pop()  # what follows the last newline: nothing
        if self.keep:
            for text in lines:
                self._line(text)
            return
        at, i = 0, 0  # line i starts at byte ``at``
        while i < len(lines):
            found = buffer.find(self.q, at, end)
            j = len(lines) if found < 0 else i + buffer.count(self.nl, at, found)
            if self.inside:  # lines i .. j-1 lie within the open quoted field
                self.line += j - i
            else:  # lines i .. j-1 hold no quote: each is a record unless empty
                block = lines[i:j]
                self.records += len(block) - block.count(self.empty) - block.count(self.cr)
                self.line += len(block)
            if found < 0:
                return
            at = buffer.rfind(self.nl, at, found) + 1 or at
            self._line(lines[j])
            at += len(lines[j]) + 1
            i = j + 1

    def _counted(self, region: bytes) -> bool:
        """Count the records of whole lines starting outside quotes, in bulk; False if it cannot.

        Where every quote that would open a field stands at a field's start (or
        doubles the one before it), quotes simply alternate between opening and
        closing, so a newline ends a record exactly when an even number of
        quotes precede it. Otherwise, or if a quoted field is still open at the
        end, the lines are walked one by one instead.
        """
        if len(self.q) != 1 or len(self.d) != 1:
            return False
        text = np.frombuffer(region, np.uint8)
        quotes = np.flatnonzero(text == self.q[0])
        if len(quotes) % 2:
            return False
        opening = quotes[0::2]
        before = text[np.maximum(opening - 1, 0)]
        at_start = (opening == 0) | (before == self.d[0]) | (before == 10) | (before == self.q[0])
        if not at_start.all():
            return False
        newlines = np.flatnonzero(text == 10)
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
        # an empty line (or a lone carriage return) ends no record
        previous = text[np.maximum(ends - 1, 0)]
        second = text[np.maximum(ends - 2, 0)]
        empty = (ends == 0) | (previous == 10) | ((previous == 13) & ((ends == 1) | (second == 10)))
        self.records += int(len(ends) - np.count_nonzero(empty))
        return True

    def finish(self) -> int:
        """The number of records, the header included; call once, after the last piece."""
        if self.pending:
            self._line(self.pending, last=True)
        elif self.inside:
            self._close()
        return self.records

    def _line(self, text: Text, last: bool = False) -> None:
        self.line += 1
        if not self.inside:
            if text == self.empty or text == self.cr:
                self.reader_line += 1
                return
            self.start, self.reader_start = self.line, self.reader_line
        if self.q in text:
            self.inside = self._quotes(text, self.inside)
        if self.texts:
            self.parts.append(text)
        if not self.inside or last:
            self.reader_line += 1
            self._close()

    def _close(self) -> None:
        self.records += 1
        if self.records == 1:  # the header
            self.parts = []
        elif self.texts:
            joined = self.nl.join(self.parts)
            if self.inside:  # open to the end of the file: its blank last lines are no text
                joined = joined.rstrip(self.nl + self.cr)
            elif joined.endswith(self.cr):
                joined = joined[:-1]
            self.kept.append(Record(self.start, joined, self.inside))
            self.parts = []
        elif self.keep:
            self.reader_starts.append(self.reader_start)
            self.line_starts.append(self.start)
        self.inside = False

    def _quotes(self, text: Text, inside: bool) -> bool:
        """Whether a quoted field is still open at the end of ``text``."""
        q, d, at = self.q, self.d, 0
        while True:
            found = text.find(q, at)
            if found < 0:
                return inside
            if inside:
                if text[found + 1 : found + 2] == q:
                    at = found + 2  # a doubled quote: a literal quote
                    continue
                inside, at = False, found + 1
            else:
                # a quote opens a quoted field only at a field's start
                inside = found == 0 or text[found - 1 : found] == d
                at = found + 1


@dataclass(frozen=True)
class Scanned:
    """A file's checksum and, where its format allows, how many records it holds."""

    checksum: str
    records: int | None
    lines: int | None = None  # CSV: lines, where more than records + 1 (blank, or in a field)


def scan_file(path: Path, source: SourceConfig) -> Scanned:
    """Read ``path`` once: its SHA-256 and its record count (header excluded)."""
    digest = hashlib.sha256()
    counter = _counter(source)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            if counter is not None:
                counter.feed(chunk)
    records: int | None = None
    if counter is not None:
        records = counter.finish()
    elif source.format == "parquet":
        records = _parquet_rows(path)
    lines = counter.lines() if isinstance(counter, _CsvCounter | _Utf16CsvCounter) else None
    return Scanned(digest.hexdigest(), records, lines)


class Counter(Protocol):
    """Fed a file's bytes in order, then answers how many records they hold."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> int: ...


def _counter(source: SourceConfig) -> Counter | None:
    if source.format == "csv":
        if source.csv.encoding == "utf-16":
            return _Utf16CsvCounter(source)
        return _CsvCounter(_byte_splitter(source))
    # a REST source's pages and a database extract land as JSON lines
    if source.format in ("jsonl", "rest", "database"):
        return _JsonLinesCounter()
    return None


class _CsvCounter:
    def __init__(self, splitter: CsvSplitter[bytes]) -> None:
        self.splitter = splitter

    def feed(self, chunk: bytes) -> None:
        self.splitter.feed(chunk)

    def finish(self) -> int:
        return max(self.splitter.finish() - 1, 0)  # the header is no record

    def lines(self) -> int:
        return self.splitter.line


class _Utf16CsvCounter:
    """A UTF-16 newline is two bytes (and a 0x0A byte may be half of a letter): count text."""

    def __init__(self, source: SourceConfig) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        self.splitter = CsvSplitter("\n", "\r", source.csv.quote, source.csv.delimiter)

    def feed(self, chunk: bytes) -> None:
        self.splitter.feed(self.decoder.decode(chunk))

    def finish(self) -> int:
        self.splitter.feed(self.decoder.decode(b"", final=True))
        return max(self.splitter.finish() - 1, 0)

    def lines(self) -> int:
        return self.splitter.line


class _JsonLinesCounter:
    def __init__(self) -> None:
        self.records = 0
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        self.records += sum(1 for line in lines if line.strip(JSON_BLANK))

    def finish(self) -> int:
        return self.records + (1 if self.pending.strip(JSON_BLANK) else 0)


def _byte_splitter(
    source: SourceConfig, keep: bool = False, starts: bool = False, last: int | None = None
) -> CsvSplitter[bytes]:
    # UTF-8 and Latin-1 keep ASCII's newline; a quote or delimiter is its bytes in the encoding
    encoding = source.csv.encoding
    quote, delimiter = (source.csv.quote.encode(encoding), source.csv.delimiter.encode(encoding))
    return CsvSplitter(b"\n", b"\r", quote, delimiter, keep, starts, last)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (pa.ArrowInvalid, OSError):
        return 1  # the reader keeps an unreadable file as one record


def csv_records(path: Path, source: SourceConfig, last: int | None = None) -> list[Record[str]]:
    """The data records of a CSV file (only its ``last`` ones if given), with their lines and text."""
    options = source.csv
    if options.encoding == "utf-16":
        text: CsvSplitter[str] = CsvSplitter(
            "\n", "\r", options.quote, options.delimiter, keep=True, last=last
        )
        with path.open(encoding="utf-16", errors="replace", newline="") as reader:
            for piece in iter(lambda: reader.read(CHUNK), ""):
                text.feed(piece)
        text.finish()
        return list(text.kept)
    raw = _byte_splitter(source, keep=True, last=last)
    _feed_file(raw, path)
    encoding = "utf-8-sig" if options.encoding == "utf-8" else options.encoding
    return [
        Record(r.line, r.text.decode(encoding, errors="replace"), r.unterminated) for r in raw.kept
    ]


def csv_starts(path: Path, source: SourceConfig) -> pa.Table:
    """Each data record's first line as DuckDB numbers it (``reader_line``) and in the file (``line``).

    DuckDB does not count the newlines inside quoted fields, so after a record
    that spans lines its numbers fall behind the file's. Only the starts are
    kept, as two integer arrays: a file of any size fits.
    """
    options = source.csv
    splitter: CsvSplitter[str] | CsvSplitter[bytes]
    if options.encoding == "utf-16":
        splitter = CsvSplitter("\n", "\r", options.quote, options.delimiter, starts=True)
        with path.open(encoding="utf-16", errors="replace", newline="") as reader:
            for piece in iter(lambda: reader.read(CHUNK), ""):
                splitter.feed(piece)
        splitter.finish()
    else:
        splitter = _byte_splitter(source, starts=True)
        _feed_file(splitter, path)
    return pa.table(
        {
            "reader_line": pa.array(splitter.reader_starts, pa.int64()),
            "line": pa.array(splitter.line_starts, pa.int64()),
        }
    )


def _feed_file(splitter: CsvSplitter[bytes], path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            splitter.feed(chunk)
    splitter.finish()


def file_records(path: Path, source: SourceConfig, last: int) -> list[Record[str]]:
    """The ``last`` records of a CSV or JSON-lines file, with the lines they start on and text."""
    if source.format == "csv":
        return csv_records(path, source, last)
    records: deque[Record[str]] = deque(maxlen=last)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip(JSON_BLANK):
                text = line.rstrip(b"\n").removesuffix(b"\r")
                records.append(Record(number, text.decode("utf-8", errors="replace")))
    return list(records)


def lost_records(
    path: Path,
    source: SourceConfig,
    counted: int,
    returned: int,
    returned_since: Callable[[int], set[int]],
) -> pa.Table:
    """The records of ``path`` its reader did not return, as quarantine rows with their text.

    A reader that loses records loses a file's tail (a quote left open runs to
    the end of the file), so the missing ones are taken from the end, passing
    over records the reader did return (``returned_since(line)``: the lines of
    those from that line on). Only a tail of the file is held, never all of it.
    Formats without lines (Parquet) get a row per missing position, without text.
    """
    missing = counted - returned
    if missing <= 0:
        return _rows(path, [], [])
    if source.format not in ("csv", "jsonl", "rest", "database"):
        return _rows(
            path,
            [(n, None) for n in range(returned, counted)],
            f"the reader returned {returned} of the {counted} rows the file declares; "
            "check the file and ingest it again",
        )
    size = missing
    while True:
        tail = file_records(path, source, size)
        taken = returned_since(tail[0].line) if tail else set()
        lost = [r for r in tail if r.line not in taken][-missing:]
        if len(lost) >= missing or len(tail) < size:
            break
        size *= 4
    rows: list[tuple[int, str | None]] = [(r.line, r.text) for r in lost]
    problems = []
    for record in lost:
        if record.unterminated:
            problems.append(
                f"malformed CSV line (unterminated quote): a quote opened in the record on line "
                f"{record.line} never closes, so the rest of the file is this one record; "
                "close the quote in the export"
            )
        else:
            problems.append(
                "the reader returned no row for this record; check the line and ingest it again"
            )
    return _rows(path, rows, problems)


def _rows(path: Path, rows: list[tuple[int, str | None]], problem: str | list[str]) -> pa.Table:
    problems = problem if isinstance(problem, list) else [problem] * len(rows)
    return pa.table(
        {
            "_raw": pa.array([text for _, text in rows], pa.string()),
            "_problem": pa.array(problems, pa.string()),
            "_source_file": pa.array([str(path)] * len(rows), pa.string()),
            "_offset": pa.array([line for line, _ in rows], pa.int64()),
        }
    )
