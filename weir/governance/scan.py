"""The catalog's scan for personal and card data where no classification says there is any.

``PiiScan.run`` samples every table of every layer (raw, quarantine, staging,
the warehouse, the marts): up to ``sample`` rows each, drawn by DuckDB's
reservoir sampling with a fixed seed (the same table scans the same way
twice). Every text and integer column of the sample is read and each value
asked what it looks like (``weir.governance.detect``). Per column and kind the
scan keeps a count, the sample's size and a confidence, and whether the
column's classification (the source contract's, or by lineage downstream)
already covers that kind: a finding where it does not is *flagged*. The
sampled values stay in memory for the length of one table and are never
stored, printed or logged; the audit record names the tables and the rows read.

A scan replaces the findings of the tables it sampled (``weir_pii_findings``),
so a column fixed upstream stops being flagged at the next scan.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa
import sqlalchemy as sa

from weir.engine import ident
from weir.errors import NotFoundError, QueryError
from weir.governance.detect import Kind, card_shaped, confidence, covered, kinds_in
from weir.governance.policy import Policy
from weir.lake import Lake
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator

DEFAULT_SAMPLE = 1000
MAX_SAMPLE = 100_000
_LONGEST = 4000  # characters of one value looked at (a free-text field's first pages)
_SEED = 7


@dataclass(frozen=True)
class Finding:
    """How many sampled values of one column look like one kind of data; never a value."""

    dataset: str
    column: str
    kind: Kind
    matches: int
    sampled: int
    confidence: float
    classification: str | None
    flagged: bool  # the classification does not say the column holds this kind
    scanned_at: float

    @property
    def share(self) -> float:
        return self.matches / self.sampled if self.sampled else 0.0

    def as_row(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "column": self.column,
            "kind": self.kind,
            "matches": self.matches,
            "sampled": self.sampled,
            "confidence": self.confidence,
            "classification": self.classification or "",
            "flagged": self.flagged,
            "scanned": datetime.fromtimestamp(self.scanned_at, UTC).isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class ScanResult:
    """One scan: the tables sampled, rows read, and what was found."""

    datasets: tuple[str, ...]
    rows: int
    findings: tuple[Finding, ...]

    @property
    def flagged(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.flagged)


class PiiScan:
    """Samples the lake's tables for personal and card data; keeps and lists the findings."""

    def __init__(self, lake: Lake, policy: Policy, store: MetadataStore, audit: AuditLog) -> None:
        self.lake = lake
        self.policy = policy
        self.store = store
        self.audit = audit

    def run(
        self,
        datasets: Sequence[str] | None = None,
        sample: int = DEFAULT_SAMPLE,
        user: str | None = None,
    ) -> ScanResult:
        """Sample ``datasets`` (default: every table) and replace their findings."""
        if not 1 <= sample <= MAX_SAMPLE:
            raise QueryError(
                f"a sample of {sample} rows is out of range",
                f"ask for 1 to {MAX_SAMPLE:,} rows: --sample 1000",
            )
        available = [f"{layer}.{name}" for layer, name in self.lake.tables()]
        chosen = sorted(available) if not datasets else list(dict.fromkeys(datasets))
        for name in chosen:
            if name not in available:
                raise NotFoundError.among("dataset", name, available, "see `weir catalog scan`")
        who, now = user or operator(), time.time()
        found: list[Finding] = []
        read = 0
        scans: list[dict[str, Any]] = []
        for name in chosen:
            layer, table = name.split(".", 1)
            rows, snapshot_id, total, table_findings = self._scan_table(layer, table, sample, now)
            read += rows
            found += table_findings
            scans.append({"d": name, "s": rows, "n": total, "i": snapshot_id, "u": who, "t": now})
        self._store(chosen, found, scans)
        self.audit.append(
            AuditEntry(
                "catalog.scan",
                f"catalog scan ({len(chosen)} table(s), sample {sample})",
                user=who,
                datasets=tuple(chosen),
                rows=read,
                detail={"findings": len(found), "flagged": sum(f.flagged for f in found)},
            )
        )
        return ScanResult(tuple(chosen), read, tuple(found))

    def _scan_table(
        self, layer: str, table: str, sample: int, now: float
    ) -> tuple[int, int | None, int | None, list[Finding]]:
        snapshot = self.lake.snapshot_for(layer, table)
        files = self.lake.data_files(layer, table, snapshot)
        summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
        total = int(summary["total-records"]) if "total-records" in summary else None
        snapshot_id = snapshot.snapshot_id if snapshot is not None else None
        columns = [f.name for f in self.lake.arrow_schema(layer, table) if _readable(f.type)]
        if not files or not columns:
            return 0, snapshot_id, total, []
        picked = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in columns)
        with self.lake.engine.writer() as session:
            values = session.arrow(
                f"SELECT {picked} FROM {self.lake.engine.scan(files)}"
                f" USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE ({_SEED})"
            )
        classes = self.policy.classification(f"{layer}.{table}")
        findings = [
            Finding(
                f"{layer}.{table}",
                column,
                kind,
                matches,
                values.num_rows,
                confidence(kind, matches),
                classes.get(column),
                not covered(kind, classes.get(column)),
                now,
            )
            for column in columns
            for kind, matches in sorted(count_kinds(values.column(column).to_pylist()).items())
        ]
        return values.num_rows, snapshot_id, total, findings

    def _store(
        self, datasets: Sequence[str], found: Sequence[Finding], scans: Sequence[dict[str, Any]]
    ) -> None:
        with self.store.begin() as db:
            for name in datasets:
                db.execute(sa.text("DELETE FROM weir_pii_findings WHERE dataset = :d"), {"d": name})
                db.execute(sa.text("DELETE FROM weir_pii_scans WHERE dataset = :d"), {"d": name})
            if scans:
                db.execute(
                    sa.text(
                        "INSERT INTO weir_pii_scans (dataset, sampled, row_count, snapshot_id,"
                        " scanned_by, scanned_at) VALUES (:d, :s, :n, :i, :u, :t)"
                    ),
                    list(scans),
                )
            if found:
                db.execute(
                    sa.text(
                        "INSERT INTO weir_pii_findings (dataset, column_name, kind, matches,"
                        " sampled, confidence, classification, flagged, scanned_at)"
                        " VALUES (:d, :c, :k, :m, :s, :p, :cl, :f, :t)"
                    ),
                    [
                        {
                            "d": f.dataset,
                            "c": f.column,
                            "k": f.kind,
                            "m": f.matches,
                            "s": f.sampled,
                            "p": f.confidence,
                            "cl": f.classification,
                            "f": f.flagged,
                            "t": f.scanned_at,
                        }
                        for f in found
                    ],
                )

    def findings(
        self, datasets: Iterable[str] | None = None, flagged_only: bool = True
    ) -> list[Finding]:
        """The latest scan's findings (only flagged ones unless ``flagged_only`` is false)."""
        return read_findings(self.store, datasets, flagged_only)


def read_findings(
    store: MetadataStore, datasets: Iterable[str] | None = None, flagged_only: bool = True
) -> list[Finding]:
    """The findings kept by the latest scan of each table, by table, column and kind."""
    query = "SELECT * FROM weir_pii_findings"
    if flagged_only:
        query += " WHERE flagged = :yes"
    with store.begin() as db:
        rows = (
            db.execute(sa.text(query + " ORDER BY dataset, column_name, kind"), {"yes": True})
            .mappings()
            .all()
        )
    wanted = None if datasets is None else set(datasets)
    return [
        Finding(
            row["dataset"],
            row["column_name"],
            cast(Kind, row["kind"]),
            int(row["matches"]),
            int(row["sampled"]),
            float(row["confidence"]),
            row["classification"],
            bool(row["flagged"]),
            float(row["scanned_at"]),
        )
        for row in rows
        if wanted is None or row["dataset"] in wanted
    ]


def count_kinds(values: Iterable[str | None]) -> Counter[Kind]:
    """How many of ``values`` hold each kind (a value holding two kinds counts for both).

    Card numbers count only when at least half of the card-shaped values pass
    the Luhn check: a tenth of any long numbers pass it by chance.
    """
    counts: Counter[Kind] = Counter()
    shaped = 0
    seen: dict[str, tuple[frozenset[Kind], bool]] = {}
    for value in values:
        if not value:
            continue
        text = value[:_LONGEST]
        known = seen.get(text)
        if known is None:
            kinds = kinds_in(text)
            known = seen[text] = (kinds, "card" in kinds or card_shaped(text))
        counts.update(known[0])
        shaped += known[1]
    if counts["card"] * 2 < shaped:
        del counts["card"]
    return counts


def _readable(kind: pa.DataType) -> bool:
    """Text and integers (a card or phone number can be stored as a number); not dates, floats."""
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or (pa.types.is_integer(kind) and kind.bit_width >= 64)
    )
