"""Dirty-data injection, with each dirty record's fate recorded as it is made.

Kinds of dirt and what ingestion does with them are fixed here (``OUTCOMES``).
Every injected record carries exactly one kind, chosen among records that
carry none yet, so the manifest can count: quarantined = the records of
quarantine kinds, duplicates = the records of duplicate kinds. A few kinds are
remarks on clean records (a late event, a missing event id, personal data in
free text): they are counted too, and accepted.

Event sources are soiled in place (a bad value replaces a good one, a record
is copied or delivered late). Entity extracts are soiled by *adding* bad
copies of real rows, so each day's extract still holds every entity once and
the warehouse's history is not torn by a broken export line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pyarrow as pa

from weir.demo.generate import render
from weir.demo.generate.records import ACCEPTED, DUPLICATE, NO_KIND, QUARANTINED, VOID, Batch, Lines
from weir.demo.generate.render import TextFormat

DirtKind = Literal[
    "null_required",
    "wrong_type",
    "out_of_range",
    "unknown_enum",
    "regex_mismatch",
    "rule_violation",
    "future_timestamp",
    "malformed_line",
    "extra_field",
    "renamed_column",
    "duplicate",
    "resent_file",
    "late_event",
    "missing_event_id",
    "email_in_message",
    "phone_in_message",
    "card_in_message",
]
DIRT_KINDS: tuple[DirtKind, ...] = get_args(DirtKind)

Outcome = Literal["quarantined", "duplicate", "accepted"]
OUTCOMES: Mapping[DirtKind, Outcome] = {
    "null_required": "quarantined",
    "wrong_type": "quarantined",
    "out_of_range": "quarantined",
    "unknown_enum": "quarantined",
    "regex_mismatch": "quarantined",
    "rule_violation": "quarantined",
    "future_timestamp": "quarantined",
    "malformed_line": "quarantined",
    "extra_field": "quarantined",
    "renamed_column": "quarantined",
    "duplicate": "duplicate",
    "resent_file": "duplicate",
    "late_event": "accepted",
    "missing_event_id": "accepted",
    "email_in_message": "accepted",
    "phone_in_message": "accepted",
    "card_in_message": "accepted",
}

# Where a record delivered late or copied to another file goes in that file:
# after the file's own records.
AFTER_OWN_RECORDS = 1e15  # above every rank a batch gives its own records (ms since 1970)


def code(kind: DirtKind) -> int:
    return DIRT_KINDS.index(kind)


ValueMaker = Callable[[np.random.Generator, Batch, np.ndarray], Sequence[object]]


@dataclass(frozen=True)
class CellDirt:
    """One way to spoil a record: write one of ``values`` (or what ``values`` makes) into ``column``."""

    kind: DirtKind
    column: str
    values: tuple[object, ...] | ValueMaker

    def draw(self, rng: np.random.Generator, batch: Batch, rows: np.ndarray) -> Sequence[object]:
        if callable(self.values):
            return self.values(rng, batch, rows)
        picks = rng.integers(0, len(self.values), size=len(rows))
        return [self.values[i] for i in picks]


@dataclass(frozen=True)
class EventPlan:
    """The dirt of an event source, as rates per record."""

    cells: tuple[CellDirt, ...]
    cell_rate: float
    malformed_rate: float = 0.0
    extra_field_rate: float = 0.0
    extra_fields: tuple[tuple[str, object], ...] = ()
    duplicate_rate: float = 0.0
    duplicate_reach: int = 0
    missing_id_rate: float = 0.0
    id_column: str | None = None
    late_rate: float = 0.0
    late_reach: int = 0


@dataclass(frozen=True)
class ExtractPlan:
    """The dirt of an entity extract: bad copies of real rows, as a rate per row."""

    fmt: TextFormat
    rate: float
    cells: tuple[CellDirt, ...]
    malformed: bool = False
    extra_fields: tuple[tuple[str, object], ...] = ()


def _count(rng: np.random.Generator, n: int, rate: float, at_least: int) -> int:
    if n == 0 or rate <= 0:
        return 0
    return min(n, max(int(rng.binomial(n, rate)), at_least))


def soil_events(
    batch: Batch, plan: EventPlan, rng: np.random.Generator, *, first: bool, last_key: int
) -> list[Lines]:
    """Spoil some of ``batch``; return its lines, then late arrivals and copies bound for other places.

    On the ``first`` day every kind of the plan appears at least once, so even a
    tiny run exercises each path of ingestion.
    """
    floor = 1 if first else 0
    pool = rng.permutation(batch.pristine())
    wanted = [
        _count(rng, batch.n, plan.cell_rate, len(plan.cells) if first else 0),
        _count(rng, batch.n, plan.malformed_rate, floor),
        _count(rng, batch.n, plan.extra_field_rate, floor if plan.extra_fields else 0),
        _count(rng, batch.n, plan.missing_id_rate, floor if plan.id_column else 0),
        _count(rng, batch.n, plan.late_rate, floor),
    ]
    picked: list[np.ndarray] = []
    start = 0
    for k in wanted:
        picked.append(np.sort(pool[start : start + k]))
        start += k
    cell_rows, malformed_rows, extra_rows, missing_rows, late_rows = picked

    _spoil_cells(batch, plan.cells, rng, cell_rows, first=first)
    if plan.id_column is not None and len(missing_rows):
        batch.leave_out(plan.id_column, missing_rows)
        batch.mark(missing_rows, ACCEPTED, code("missing_event_id"))
    lines, spoiled_rows, spoiled = batch.clean_lines()
    edited: list[np.ndarray] = [spoiled_rows]
    texts: list[str] = [str(t) for t in spoiled.to_pylist()]
    for rows, new in (
        (malformed_rows, _malformed(lines.texts(malformed_rows), batch.fmt, rng)),
        (
            extra_rows,
            _with_field(
                lines.texts(extra_rows), batch.fmt, batch.record_tag, rng, plan.extra_fields
            ),
        ),
    ):
        edited.append(rows)
        texts += new
    lines.mark(malformed_rows, QUARANTINED, code("malformed_line"))
    lines.mark(extra_rows, QUARANTINED, code("extra_field"))

    late = Lines.empty()
    if len(late_rows):
        shift = rng.integers(1, plan.late_reach + 1, size=len(late_rows))
        target = np.minimum(lines.key[late_rows] + shift, last_key)
        later = target > lines.key[late_rows]  # the last file has no later one
        moved = late_rows[later]
        late = lines.take(moved)
        late.key = target[later]
        late.rank = late.rank + AFTER_OWN_RECORDS
        late.mark(np.arange(len(moved)), ACCEPTED, code("late_event"))
        # Where it should have been, the record leaves an empty line that is written as nothing.
        edited.append(moved)
        texts += [""] * len(moved)
        lines.mark(moved, VOID, NO_KIND)
    rows = np.concatenate(edited) if edited else np.empty(0, np.int64)
    order = np.argsort(rows, kind="stable")
    lines.replace(rows[order], [texts[i] for i in order])

    copies = _copies(
        lines, rng, _count(rng, batch.n, plan.duplicate_rate, floor), plan.duplicate_reach, last_key
    )
    return [lines, late.in_file_order(), copies.in_file_order()]


def _spoil_cells(
    batch: Batch,
    cells: Sequence[CellDirt],
    rng: np.random.Generator,
    rows: np.ndarray,
    *,
    first: bool,
) -> None:
    if not len(rows):
        return
    which = rng.integers(0, len(cells), size=len(rows))
    if first:
        which[: len(cells)] = np.arange(min(len(cells), len(rows)))
    for i, spec in enumerate(cells):
        chosen = rows[which == i]
        if len(chosen):
            batch.set_cells(spec.column, chosen, spec.draw(rng, batch, chosen))
            batch.mark(chosen, QUARANTINED, code(spec.kind))


def _malformed(texts: list[str], fmt: TextFormat, rng: np.random.Generator) -> list[str]:
    if not texts:
        return []
    if fmt == "csv":
        # Too few fields (the last one lost) or too many (an unquoted comma): never an
        # unterminated quote, which would swallow the lines after it.
        short = rng.random(len(texts)) < 0.5
        return [
            t[: t.rindex(",")] + "\n" if s else t[:-1] + ",1\n"
            for t, s in zip(texts, short, strict=True)
        ]
    if fmt == "jsonl":
        # Cut short (as by a crashed writer), or valid JSON that is not an object.
        cut = rng.uniform(0.3, 0.8, size=len(texts))
        wrapped = rng.random(len(texts)) < 0.2
        return [
            "[" + t[:-1] + "]\n" if w else t[: max(2, int(len(t) * c))] + "\n"
            for t, c, w in zip(texts, cut, wrapped, strict=True)
        ]
    raise ValueError("an XML record cannot be malformed without breaking its whole file")


def _with_field(
    texts: list[str],
    fmt: TextFormat,
    record_tag: str,
    rng: np.random.Generator,
    fields: Sequence[tuple[str, object]],
) -> list[str]:
    if not texts:
        return []
    picks = rng.integers(0, len(fields), size=len(texts))
    out = []
    for text, pick in zip(texts, picks, strict=True):
        name, value = fields[pick]
        token = render.value_token(fmt, value)
        if fmt == "jsonl":
            out.append("{" + json.dumps(name) + ":" + str(token) + "," + text[1:])
        elif fmt == "xml":
            closing = f"</{record_tag}>"
            out.append(text.replace(closing, f"<{name}>{token}</{name}>{closing}"))
        else:
            raise ValueError("a CSV record with an extra field is a malformed line")
    return out


def resent_burst(
    lines: Lines, rng: np.random.Generator, share: float, reach: int, last_key: int
) -> Lines:
    """Copies of ``share`` of the accepted ``lines``, as a sender re-sending a day's records sends them.

    Each copy lands in its original's file or up to ``reach`` files later (never
    after ``last_key``) and is a duplicate, like any other copy.
    """
    accepted = int(np.count_nonzero(lines.status == ACCEPTED))
    return _copies(lines, rng, round(accepted * share), reach, last_key).in_file_order()


def _copies(lines: Lines, rng: np.random.Generator, k: int, reach: int, last_key: int) -> Lines:
    """Exact copies of ``k`` accepted lines, in the same file or up to ``reach`` files later."""
    candidates = np.flatnonzero(lines.status == ACCEPTED)
    k = min(k, len(candidates))
    if k == 0:
        return Lines.empty()
    originals = np.sort(rng.choice(candidates, size=k, replace=False))
    copies = lines.take(originals)
    shift = rng.integers(0, reach + 1, size=k)
    target = np.minimum(copies.key + shift, last_key)
    later = target > copies.key
    copies.key = np.where(later, target, copies.key)
    # A copy arrives after the file's own records (the sender re-sent a record).
    copies.rank = AFTER_OWN_RECORDS + copies.rank
    copies.mark(np.arange(k), DUPLICATE, code("duplicate"))
    return copies


# -- entity extracts ---------------------------------------------------------------------
def soil_extract(
    base: Lines,
    render_rows: Callable[[np.ndarray], Batch],
    plan: ExtractPlan,
    rng: np.random.Generator,
    *,
    first: bool,
) -> list[Lines]:
    """``base`` (one day's clean extract), then bad copies of some of its rows at the end of the file.

    ``render_rows`` renders the given rows of the extract afresh, so a copy can be
    spoiled cell by cell before it becomes a line.
    """
    n = len(base)
    k = _count(rng, n, plan.rate, 1 if first else 0)
    if k == 0:
        return [base]
    originals = rng.choice(n, size=k, replace=k > n)
    line_ways = (
        ["duplicate"]
        + (["malformed"] if plan.malformed else [])
        + (["extra"] if plan.extra_fields else [])
    )
    way = rng.integers(0, len(plan.cells) + len(line_ways), size=k)
    parts = []
    spoiled = np.flatnonzero(way < len(plan.cells))
    if len(spoiled):
        # One fresh rendering of every row to spoil, then each spec on its share of it.
        batch = render_rows(originals[spoiled])
        for i, spec in enumerate(plan.cells):
            rows = np.flatnonzero(way[spoiled] == i)
            if len(rows):
                batch.set_cells(spec.column, rows, spec.draw(rng, batch, rows))
                batch.mark(rows, QUARANTINED, code(spec.kind))
        parts.append(batch.lines())
    for offset, what in enumerate(line_ways):
        chosen = originals[way == len(plan.cells) + offset]
        if not len(chosen):
            continue
        copies = base.take(chosen)
        rows = np.arange(len(chosen))
        if what == "duplicate":
            copies.mark(rows, DUPLICATE, code("duplicate"))
        elif what == "malformed":
            copies.replace(rows, _malformed(copies.texts(rows), plan.fmt, rng))
            copies.mark(rows, QUARANTINED, code("malformed_line"))
        else:
            copies.replace(
                rows, _with_field(copies.texts(rows), plan.fmt, "record", rng, plan.extra_fields)
            )
            copies.mark(rows, QUARANTINED, code("extra_field"))
        parts.append(copies)
    extras = Lines.concat(parts)
    extras.key = np.full(len(extras), base.key[0] if n else 0, dtype=np.int64)
    extras.rank = AFTER_OWN_RECORDS + np.arange(len(extras), dtype=np.float64)
    return [base, extras]


@dataclass(frozen=True)
class TableDirt:
    """Spoiling a typed table (Parquet): ``column`` gets one of ``values``."""

    kind: DirtKind
    column: str
    values: tuple[object, ...]


def soil_table(
    table: pa.Table,
    cells: Sequence[TableDirt],
    rate: float,
    rng: np.random.Generator,
    *,
    first: bool,
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """``table`` plus bad and duplicate copies of some rows, with each row's status and kind."""
    n = table.num_rows
    k = _count(rng, n, rate, 1 if first else 0)
    status = np.zeros(n, np.int8)
    kinds = np.full(n, -1, np.int8)
    if k == 0:
        return table, status, kinds
    originals = np.sort(rng.choice(n, size=k, replace=k > n))
    way = rng.integers(0, len(cells) + 1, size=k)
    copies = table.take(pa.array(originals)).to_pylist()
    copy_status = np.full(k, DUPLICATE, np.int8)
    copy_kind = np.full(k, code("duplicate"), np.int8)
    for j, row in enumerate(copies):
        if way[j] < len(cells):
            spec = cells[way[j]]
            row[spec.column] = spec.values[int(rng.integers(0, len(spec.values)))]
            copy_status[j] = QUARANTINED
            copy_kind[j] = code(spec.kind)
    spoiled = pa.Table.from_pylist(copies, schema=table.schema)
    # Each copy goes right after its original.
    order = np.argsort(np.concatenate([np.arange(n), originals + 0.5]), kind="stable")
    merged = pa.concat_tables([table, spoiled]).take(pa.array(order))
    return (
        merged,
        np.concatenate([status, copy_status])[order],
        np.concatenate([kinds, copy_kind])[order],
    )
