"""The journal of lifecycle actions: each step recorded before the next begins.

An action on one table moves ``archiving`` → ``destroying`` → ``purging`` →
``done`` (a ``destroy`` rule starts at ``destroying``). Each state is written
before its work starts, so a process killed at any moment leaves its action in
the state it reached, and the next ``weir lifecycle run`` finishes that action
before planning anything new for the table.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import sqlalchemy as sa

from weir.ingest.ledger import Ledger
from weir.metadata import MetadataStore

ActionState = Literal["archiving", "destroying", "purging", "done"]


@dataclass(frozen=True)
class Action:
    action_id: str
    run_id: str
    dataset: str
    kind: str  # archive | destroy
    rule: str
    state: ActionState
    cutoff: float
    rows: int
    files: int
    time_from: float | None
    time_to: float | None
    archive: str | None
    snapshot_id: int | None
    started_at: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return self.dataset.partition(".")[0]

    @property
    def source(self) -> str:
        return self.dataset.partition(".")[2]


def new_id(prefix: str) -> str:
    return f"{prefix}{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


class Journal:
    """Reads and writes ``weir_lifecycle_actions``."""

    def __init__(self, store: MetadataStore, ledger: Ledger) -> None:
        self.store = store
        self.ledger = ledger

    def start(self, action: Action) -> Action:
        with self.store.begin() as db:
            db.execute(
                sa.text(
                    "INSERT INTO weir_lifecycle_actions (action_id, run_id, dataset, kind, rule,"
                    " state, cutoff, row_count, file_count, time_from, time_to, archive,"
                    " snapshot_id, started_at, detail) VALUES (:id, :run, :ds, :kind, :rule,"
                    " :state, :cutoff, :rows, :files, :tf, :tt, :archive, :snap, :at, :detail)"
                ),
                {
                    "id": action.action_id,
                    "run": action.run_id,
                    "ds": action.dataset,
                    "kind": action.kind,
                    "rule": action.rule,
                    "state": action.state,
                    "cutoff": action.cutoff,
                    "rows": action.rows,
                    "files": action.files,
                    "tf": action.time_from,
                    "tt": action.time_to,
                    "archive": action.archive,
                    "snap": action.snapshot_id,
                    "at": action.started_at,
                    "detail": json.dumps(action.detail),
                },
            )
        return action

    def move(self, action: Action, state: ActionState, **changes: Any) -> Action:
        """Record the action's next state (and what it learnt on the way)."""
        moved = replace(action, state=state, **changes)
        with self.store.begin() as db:
            self._update(db, moved)
        return moved

    def finish(self, action: Action, expired: Mapping[tuple[str, str], int]) -> Action:
        """Mark the action done and note the rows it took out, per batch, in one transaction."""
        done = replace(action, state="done")
        with self.store.begin() as db:
            self._update(db, done, finished=time.time())
            self.ledger.record_expired(db, action.action_id, action.source, action.layer, expired)
        return done

    def _update(self, db: sa.Connection, action: Action, finished: float | None = None) -> None:
        db.execute(
            sa.text(
                "UPDATE weir_lifecycle_actions SET state = :state, row_count = :rows,"
                " file_count = :files, time_from = :tf, time_to = :tt, archive = :archive,"
                " detail = :detail, finished_at = :fin WHERE action_id = :id"
            ),
            {
                "state": action.state,
                "rows": action.rows,
                "files": action.files,
                "tf": action.time_from,
                "tt": action.time_to,
                "archive": action.archive,
                "detail": json.dumps(action.detail),
                "fin": finished,
                "id": action.action_id,
            },
        )

    def unfinished(self) -> dict[str, Action]:
        """dataset → its action a run left unfinished."""
        with self.store.begin() as db:
            rows = (
                db.execute(
                    sa.text(
                        "SELECT * FROM weir_lifecycle_actions WHERE state <> 'done' ORDER BY started_at"
                    )
                )
                .mappings()
                .all()
            )
        return {row["dataset"]: _action(row) for row in rows}

    def actions(self, limit: int = 100) -> list[Action]:
        with self.store.begin() as db:
            rows = (
                db.execute(
                    sa.text(
                        "SELECT * FROM weir_lifecycle_actions ORDER BY started_at DESC"
                        f" LIMIT {int(limit)}"
                    )
                )
                .mappings()
                .all()
            )
        return [_action(row) for row in rows]


def _action(row: sa.RowMapping) -> Action:
    return Action(
        action_id=row["action_id"],
        run_id=row["run_id"],
        dataset=row["dataset"],
        kind=row["kind"],
        rule=row["rule"],
        state=row["state"],
        cutoff=float(row["cutoff"]),
        rows=int(row["row_count"] or 0),
        files=int(row["file_count"] or 0),
        time_from=row["time_from"],
        time_to=row["time_to"],
        archive=row["archive"],
        snapshot_id=row["snapshot_id"],
        started_at=float(row["started_at"]),
        detail=json.loads(row["detail"]) if row["detail"] else {},
    )
