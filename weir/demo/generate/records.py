"""Records on their way to a file, each carrying its fate so the manifest can predict ingestion.

A ``Batch`` is a set of records of one source as per-column tokens (see
``render.py``); the dirt injector may overwrite some cells. Once rendered it
becomes ``Lines``: one text per record, the file it goes to (``key``), its
position in that file (``rank``), what ingestion will do with it (``status``)
and the kind of dirt it carries (``kind``, -1 for none). Knowing each
record's status when it is written is what makes the manifest exact rather
than estimated.

Dirt touches about one record in a hundred, so edits never rewrite a whole
column: the batch is rendered clean in one pass, the few edited records are
rendered again on their own, and their lines replace the clean ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from weir.demo.generate import render
from weir.demo.generate.render import TextFormat

ACCEPTED = 0
QUARANTINED = 1
DUPLICATE = 2
# A line emptied because its record was delivered elsewhere (a late event): written
# as nothing, counted nowhere; the record is counted where it was delivered.
VOID = 3
NO_KIND = -1


@dataclass
class Lines:
    """Rendered records: ``text[i]`` (ending in a newline) goes to file ``key[i]``."""

    text: pa.Array
    key: np.ndarray
    rank: np.ndarray
    status: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def empty(cls) -> Lines:
        return cls(
            pa.array([], pa.string()),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty(0, np.int8),
            np.empty(0, np.int8),
        )

    @classmethod
    def uniform(cls, text: pa.Array, key: int | np.ndarray) -> Lines:
        """Clean lines in the given order, all going to ``key`` (or one key per line)."""
        n = len(text)
        keys = np.broadcast_to(np.asarray(key, dtype=np.int64), (n,)).copy()
        return cls(
            text,
            keys,
            np.arange(n, dtype=np.float64),
            np.zeros(n, np.int8),
            np.full(n, NO_KIND, np.int8),
        )

    def take(self, rows: np.ndarray) -> Lines:
        rows = np.asarray(rows, dtype=np.int64)
        return Lines(
            self.text.take(pa.array(rows)),
            self.key[rows],
            self.rank[rows],
            self.status[rows],
            self.kind[rows],
        )

    def slice(self, start: int, stop: int) -> Lines:
        return Lines(
            self.text.slice(start, stop - start),
            self.key[start:stop],
            self.rank[start:stop],
            self.status[start:stop],
            self.kind[start:stop],
        )

    @staticmethod
    def concat(parts: Sequence[Lines]) -> Lines:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Lines.empty()
        if len(parts) == 1:
            return parts[0]
        return Lines(
            pa.concat_arrays([p.text for p in parts]),
            np.concatenate([p.key for p in parts]),
            np.concatenate([p.rank for p in parts]),
            np.concatenate([p.status for p in parts]),
            np.concatenate([p.kind for p in parts]),
        )

    def in_file_order(self) -> Lines:
        """Sorted by file, then by position within the file (stable)."""
        order = np.lexsort((self.rank, self.key))
        if np.array_equal(order, np.arange(len(order))):
            return self
        return self.take(order)

    def replace(self, rows: np.ndarray, texts: pa.Array | Sequence[str]) -> None:
        """Replace the text of ``rows`` (sorted, distinct) by ``texts``, in one pass."""
        if len(rows) == 0:
            return
        mask = np.zeros(len(self), dtype=bool)
        mask[rows] = True
        replacement = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.string())
        self.text = pc.replace_with_mask(self.text, pa.array(mask), replacement)

    def texts(self, rows: np.ndarray) -> list[str]:
        return [
            str(t) for t in self.text.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()
        ]

    def mark(self, rows: np.ndarray, status: int, kind: int) -> None:
        self.status[rows] = status
        self.kind[rows] = kind

    def payload(self) -> memoryview:
        """The concatenated bytes of all lines, without copying."""
        if len(self.text) == 0:
            return memoryview(b"")
        text = self.text
        offsets = np.frombuffer(
            text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=text.offset * 4
        )
        data = text.buffers()[2]
        if data is None:
            return memoryview(b"")
        return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


@dataclass(frozen=True)
class Tokens:
    """A column already rendered as tokens of the batch's format (ids, small vocabularies).

    Rendering is the costly part of writing; a column drawn from a fixed
    vocabulary is rendered once per vocabulary and taken per record.
    """

    array: pa.Array


class Batch:
    """Records of one source as per-column tokens of one text format, not yet lines.

    ``context`` holds typed values a dirt maker may need (a discount larger than
    the revenue needs the revenue).
    """

    def __init__(
        self,
        fmt: TextFormat,
        columns: Mapping[str, pa.Array | Tokens],
        key: np.ndarray | int,
        *,
        record_tag: str = "record",
        kind: np.ndarray | None = None,
        context: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.fmt = fmt
        self.names = list(columns)
        self.tokens = {
            name: values.array if isinstance(values, Tokens) else render.tokens(fmt, values)
            for name, values in columns.items()
        }
        self.n = len(next(iter(self.tokens.values())))
        self.key = np.broadcast_to(np.asarray(key, dtype=np.int64), (self.n,)).copy()
        self.rank = np.arange(self.n, dtype=np.float64)
        self.status = np.zeros(self.n, dtype=np.int8)
        self.kind = np.full(self.n, NO_KIND, np.int8) if kind is None else kind.astype(np.int8)
        self.context = dict(context or {})
        self.record_tag = record_tag
        # Rows no dirt may touch: the record that shows a planted incident.
        self.protected = np.zeros(self.n, dtype=bool)
        self._present: dict[str, np.ndarray] = {}
        self._edits: list[tuple[str, np.ndarray, list[str | None]]] = []

    def pristine(self) -> np.ndarray:
        """Rows that carry no dirt and no remark yet, and may get some."""
        return np.flatnonzero((self.status == ACCEPTED) & (self.kind == NO_KIND) & ~self.protected)

    def set_cells(self, column: str, rows: np.ndarray, values: Sequence[object]) -> None:
        """Write ``values`` into ``column`` of ``rows`` (applied when the lines are rendered)."""
        if len(rows):
            tokens = [render.value_token(self.fmt, v) for v in values]
            self._edits.append((column, np.asarray(rows, dtype=np.int64), tokens))

    def leave_out(self, column: str, rows: np.ndarray) -> None:
        """Write ``rows`` without ``column`` at all (JSON only)."""
        if self.fmt != "jsonl":
            raise ValueError("only JSON records can leave a field out")
        present = self._present.setdefault(column, np.ones(self.n, dtype=bool))
        present[rows] = False

    def mark(self, rows: np.ndarray, status: int, kind: int) -> None:
        self.status[rows] = status
        self.kind[rows] = kind

    def lines(self) -> Lines:
        lines, rows, texts = self.clean_lines()
        lines.replace(rows, texts)
        return lines

    def clean_lines(self) -> tuple[Lines, np.ndarray, pa.Array]:
        """The lines without the cell edits, and the edited rows' lines to put in their place.

        Callers with line edits of their own merge both and replace once: each
        replacement copies every line.
        """
        lines = Lines(
            self._render(self.tokens, self._present),
            self.key.copy(),
            self.rank.copy(),
            self.status.copy(),
            self.kind.copy(),
        )
        if not self._edits:
            return lines, np.empty(0, np.int64), pa.array([], pa.string())
        rows = np.unique(np.concatenate([r for _, r, _ in self._edits]))
        taken = pa.array(rows)
        tokens = {name: column.take(taken) for name, column in self.tokens.items()}
        for column, edited, values in self._edits:
            mask = np.zeros(len(rows), dtype=bool)
            where = np.searchsorted(rows, edited)
            mask[where] = True
            ordered = [values[i] for i in np.argsort(where, kind="stable")]
            tokens[column] = pc.replace_with_mask(
                tokens[column], pa.array(mask), pa.array(ordered, pa.string())
            )
        present = {name: shown[rows] for name, shown in self._present.items()}
        return lines, rows, self._render(tokens, present)

    def _render(
        self, tokens: Mapping[str, pa.Array], present: Mapping[str, np.ndarray]
    ) -> pa.Array:
        columns = [tokens[name] for name in self.names]
        if self.fmt == "csv":
            return render.csv_lines(columns)
        if self.fmt == "jsonl":
            return render.json_lines(
                self.names, columns, [present.get(name) for name in self.names]
            )
        return render.xml_lines(self.record_tag, self.names, columns)
