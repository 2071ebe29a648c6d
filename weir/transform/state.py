"""What the transform stage remembers: runs, model builds, and each model's published state."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from weir.metadata import MetadataStore

BuildStatus = Literal["built", "failed", "skipped", "up_to_date"]


@dataclass(frozen=True)
class ModelState:
    """A model's published version: what it was built from."""

    model: str
    kind: str
    fingerprint: str
    watermark: (
        str | None
    )  # incremental: the newest day built (ISO); scd2: "<last extract>|<extracts>"
    inputs: dict[str, int | None]  # upstream table → snapshot id it was built from
    snapshot_id: int | None
    run_id: str
    built_at: float


@dataclass(frozen=True)
class ModelBuild:
    """What one run did with one model."""

    model: str
    kind: str
    status: BuildStatus
    reason: str
    interval: tuple[str, str] | None = None
    rows: int | None = None
    seconds: float = 0.0
    snapshot_id: int | None = None
    inputs: dict[str, int | None] = field(default_factory=dict)
    lineage: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    failing_sample: list[dict[str, Any]] = field(default_factory=list)


def new_run_id() -> str:
    return f"run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


class RunLog:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def start(self, run_id: str, selection: list[str]) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_runs (run_id, started_at, status, selection) VALUES (:r, :t, 'running', :s)"
                ),
                {"r": run_id, "t": time.time(), "s": json.dumps(selection)},
            )

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "UPDATE weir_runs SET status = :s, finished_at = :t, error = :e WHERE run_id = :r"
                ),
                {"s": status, "t": time.time(), "e": error, "r": run_id},
            )

    def record(self, run_id: str, build: ModelBuild, state: ModelState | None) -> None:
        """The build, and when it published, the model's new state, in one transaction."""
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_model_builds (run_id, model, kind, status, reason, interval_start, "
                    "interval_end, row_count, seconds, snapshot_id, inputs, lineage, error, failing_sample) "
                    "VALUES (:run, :m, :k, :s, :why, :a, :b, :n, :sec, :snap, :inp, :lin, :err, :sample)"
                ),
                {
                    "run": run_id,
                    "m": build.model,
                    "k": build.kind,
                    "s": build.status,
                    "why": build.reason,
                    "a": build.interval[0] if build.interval else None,
                    "b": build.interval[1] if build.interval else None,
                    "n": build.rows,
                    "sec": build.seconds,
                    "snap": build.snapshot_id,
                    "inp": json.dumps(build.inputs),
                    "lin": json.dumps(build.lineage),
                    "err": build.error,
                    "sample": json.dumps(build.failing_sample, default=str),
                },
            )
            if state is not None:
                db.execute(sa.text("DELETE FROM weir_models WHERE model = :m"), {"m": state.model})
                db.execute(
                    sa.text(
                        "INSERT INTO weir_models (model, kind, fingerprint, watermark, inputs, snapshot_id, "
                        "run_id, built_at) VALUES (:m, :k, :f, :w, :i, :s, :r, :t)"
                    ),
                    {
                        "m": state.model,
                        "k": state.kind,
                        "f": state.fingerprint,
                        "w": state.watermark,
                        "i": json.dumps(state.inputs),
                        "s": state.snapshot_id,
                        "r": state.run_id,
                        "t": state.built_at,
                    },
                )

    def states(self) -> dict[str, ModelState]:
        with self.store.begin() as db:
            rows = db.execute(sa.text("SELECT * FROM weir_models")).mappings().all()
        return {
            row["model"]: ModelState(
                model=row["model"],
                kind=row["kind"],
                fingerprint=row["fingerprint"],
                watermark=row["watermark"],
                inputs=json.loads(row["inputs"]),
                snapshot_id=row["snapshot_id"],
                run_id=row["run_id"],
                built_at=row["built_at"],
            )
            for row in rows
        }

    def builds(self, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = "SELECT * FROM weir_model_builds"
        params: dict[str, Any] = {}
        if model is not None:
            query += " WHERE model = :m"
            params["m"] = model
        query += f" ORDER BY run_id DESC LIMIT {int(limit)}"
        with self.store.begin() as db:
            return [dict(row) for row in db.execute(sa.text(query), params).mappings().all()]

    def lineage(self) -> dict[str, dict[str, list[str]]]:
        """Each model's column lineage, from its latest successful build."""
        with self.store.begin() as db:
            rows = db.execute(
                sa.text(
                    "SELECT b.model, b.lineage FROM weir_model_builds b JOIN weir_models m "
                    "ON m.model = b.model AND m.run_id = b.run_id WHERE b.status = 'built'"
                )
            ).all()
        return {model: json.loads(lineage or "{}") for model, lineage in rows}
