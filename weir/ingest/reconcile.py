"""Each batch's counts checked against the lake, retention included.

The ledger records, for every batch, ``received = accepted + quarantined +
duplicates``; ``raw.<source>`` keeps every received record with its fate
(``_status``) and its batch, and ``staging.<source>`` every accepted one. So a
batch is checked by counting its rows in the lake: raw by fate, staging's
accepted. Rows a retention rule took out of the lake (archived or destroyed,
``weir lifecycle run``) are recorded per batch and fate
(``Ledger.record_expired``), so a batch whose old rows left the lake still
checks, and says it was expired by retention rather than showing a mismatch.
Quarantine is checked per source: what it holds now plus what retention took
equals what batches quarantined less what replays released.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from weir.ingest.ledger import BatchRecord, Ledger
from weir.ingest.status import totals_of
from weir.lake import Lake
from weir.project import ProjectFiles

CheckState = Literal["ok", "expired by retention", "partly expired by retention", "mismatch"]
FATES = ("accepted", "quarantined", "duplicate")


@dataclass(frozen=True)
class BatchCheck:
    """One batch (or one source's quarantine) counted in the ledger and in the lake."""

    source: str
    batch_id: str  # "(quarantine)" for a source's quarantine as a whole
    layer: str
    recorded: dict[str, int]  # fate → the ledger's count
    in_lake: dict[str, int]  # fate → rows in the lake now
    expired: dict[str, int]  # fate → rows retention took out
    state: CheckState

    @property
    def message(self) -> str:
        parts = []
        for fate, wanted in self.recorded.items():
            held, gone = self.in_lake.get(fate, 0), self.expired.get(fate, 0)
            extra = f" + {gone} expired" if gone else ""
            parts.append(f"{fate} {wanted} recorded, {held} in {self.layer}{extra}")
        return "; ".join(parts)


def reconcile(
    project: ProjectFiles, lake: Lake, ledger: Ledger, sources: list[str] | None = None
) -> list[BatchCheck]:
    """Every committed batch of ``sources`` (all by default), checked against raw and staging."""
    checks: list[BatchCheck] = []
    tables = set(lake.tables())
    for name in sources or sorted(project.sources):
        project.source(name)
        batches = [b for b in ledger.batches(name) if b.status == "committed"]
        if not batches:
            continue
        raw = _counts(lake, tables, "raw", name, "_status")
        staged = _counts(lake, tables, "staging", name, "'accepted'")
        held = _counts(lake, tables, "quarantine", name, "'quarantined'")
        gone_raw = ledger.expired(name, "raw")
        gone_staged = ledger.expired(name, "staging")
        gone_held = ledger.expired(name, "quarantine")
        for batch in sorted(batches, key=lambda b: b.started_at):
            if batch.kind != "replay":  # a replay writes no raw rows
                checks.append(_check(batch, "raw", _recorded(batch), raw, gone_raw))
            accepted = {"accepted": batch.counts.accepted}
            checks.append(_check(batch, "staging", accepted, staged, gone_staged))
        quarantined = totals_of(batches).quarantined
        in_lake = {"quarantined": sum(held.values())}
        expired = {"quarantined": sum(gone_held.values())}
        checks.append(
            BatchCheck(
                name,
                "(quarantine)",
                "quarantine",
                {"quarantined": quarantined},
                in_lake,
                expired,
                _state({"quarantined": quarantined}, in_lake, expired),
            )
        )
    return checks


def _recorded(batch: BatchRecord) -> dict[str, int]:
    c = batch.counts
    return {"accepted": c.accepted, "quarantined": c.quarantined, "duplicate": c.duplicates}


def _check(
    batch: BatchRecord,
    layer: str,
    recorded: dict[str, int],
    lake_counts: Mapping[tuple[str, str], int],
    expired_counts: Mapping[tuple[str, str], int],
) -> BatchCheck:
    in_lake = {fate: lake_counts.get((batch.batch_id, fate), 0) for fate in recorded}
    expired = {fate: expired_counts.get((batch.batch_id, fate), 0) for fate in recorded}
    return BatchCheck(
        batch.source,
        batch.batch_id,
        layer,
        recorded,
        in_lake,
        expired,
        _state(recorded, in_lake, expired),
    )


def _state(
    recorded: dict[str, int], in_lake: dict[str, int], expired: dict[str, int]
) -> CheckState:
    if any(recorded[f] != in_lake[f] + expired[f] for f in recorded):
        return "mismatch"
    if not any(expired.values()):
        return "ok"
    return "expired by retention" if not any(in_lake.values()) else "partly expired by retention"


def _counts(
    lake: Lake, tables: set[tuple[str, str]], layer: str, name: str, fate: str
) -> dict[tuple[str, str], int]:
    """(batch id, fate) → rows of ``layer.name`` now."""
    if (layer, name) not in tables:
        return {}
    files = lake.data_files(layer, name, lake.snapshot_for(layer, name))
    if not files:
        return {}
    with lake.engine.writer() as session:
        rows = session.execute(
            f"SELECT _batch_id, {fate}, count(*) FROM {lake.engine.scan(files)} GROUP BY ALL"
        ).fetchall()
    return {(str(batch), str(status)): int(n) for batch, status, n in rows}
