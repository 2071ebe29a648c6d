"""The data life cycle of a project: what retention would do (``plan``) and doing it (``run``).

For each source table with a rule, the rows older than the rule's window
(``rules.TableRule``) are archived and verified, then rewritten out of the
lake (``Maintenance.rewrite``), then the snapshots that still name the old
files are expired (down to the ``snapshots:`` window, or all but the current
one without it) and the files no snapshot needs deleted. Every table's older
snapshots are expired to the ``snapshots:`` window, and the collector's log
segments the lake already holds are deleted once older than
``collector_log``. A source under a legal hold is left as it is.

Each table's action is journalled (``journal``) before each step, under the
project's write lock, so a run killed at any point is finished by the next
one: an archive is written and verified before anything is destroyed, and only
the rows the archive holds are destroyed (matched by ``_record_id``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from weir.ingest.ledger import Ledger
from weir.lake import Lake, storage_for
from weir.lake.maintenance import Maintenance
from weir.lifecycle.archive import archive_files, verify_archive, write_archive
from weir.lifecycle.holds import HeldError, Hold, Holds
from weir.lifecycle.journal import Action, Journal, new_id
from weir.lifecycle.logs import log_steps
from weir.lifecycle.rules import TableRule, archive_root, check_retention, table_rules
from weir.lifecycle.steps import Step
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.metadata.erasures import ErasureRegistry
from weir.project import ProjectFiles
from weir.project.durations import parse_duration
from weir.project.retention import RETAINED_LAYERS, RetentionConfig

FILE = "_weir_file"
ACTION_TAG = "weir.lifecycle.action"
# A data file no snapshot names may be one a model run wrote and has not committed yet (it
# takes the lock only to commit): such files are deleted once this old, or when named.
GRACE = 3600.0


class Lifecycle:
    """Retention, archive and destruction of one project's data, and its legal holds."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        store: MetadataStore,
        ledger: Ledger,
        audit: AuditLog,
        recover: Callable[[], object],
        erasures: ErasureRegistry | None = None,
    ) -> None:
        check_retention(files)
        self.files = files
        self.lake = lake
        self.ledger = ledger
        self.audit = audit
        self.recover = recover
        self.holds = Holds(files, store, audit, erasures)
        self.journal = Journal(store, ledger)
        self.maintenance = Maintenance(lake)

    @property
    def retention(self) -> RetentionConfig:
        return self.files.config.retention

    # -- plan -------------------------------------------------------------------------
    def plan(self, now: datetime | None = None) -> list[Step]:
        """What ``run`` would do now, and why; changes nothing."""
        now = now or datetime.now(UTC)
        holds = self.holds.active()
        steps: list[Step] = []
        for action in self.journal.unfinished().values():
            steps.append(_step_of(action, f"finishes the action a run left {action.state}", holds))
        unfinished = {s.dataset for s in steps}
        for rule in table_rules(self.files):
            if rule.dataset in unfinished:
                continue
            step = self._due(rule, now, holds.get(rule.source.name))
            if step is not None:
                steps.append(step)
        steps += self._snapshot_steps(now, holds, act=False)
        steps += log_steps(self.files, self.ledger, self.audit, now, holds, False)
        return steps

    # -- run --------------------------------------------------------------------------
    def run(self, sources: Sequence[str] | None = None, now: datetime | None = None) -> list[Step]:
        """Archive, destroy and expire what the rules say is due; returns what was done.

        With ``sources``, only their tables and logs; asking for a source under a
        legal hold is an error and changes nothing.
        """
        now = now or datetime.now(UTC)
        chosen = None if not sources else {self.files.source(name).name for name in sources}
        holds = self.holds.active()
        held = sorted(name for name in chosen or () if name in holds)
        if held:
            raise HeldError(
                f"{holds[held[0]].describe()}: retention may not destroy its data",
                f"release the hold first (`weir lifecycle hold release {holds[held[0]].hold_id}`),"
                " or run without --source (held sources are skipped)",
            )
        self.recover()  # a batch a crash left half-written is rolled back before history goes
        run_id = new_id("lc-")
        done: list[Step] = []
        with self.lake.writing(wait=60.0):
            holds = self.holds.active()  # again, under the lock: a hold placed meanwhile counts
            unfinished = self.journal.unfinished()
            for action in unfinished.values():
                if chosen is not None and action.source not in chosen:
                    continue
                hold = holds.get(action.source)
                if hold is not None:
                    done.append(_step_of(action, "", holds))
                    continue
                done.append(self._finish(action, now))
            for rule in table_rules(self.files):
                if rule.dataset in unfinished or (
                    chosen is not None and rule.source.name not in chosen
                ):
                    continue
                hold = holds.get(rule.source.name)
                step = self._due(rule, now, hold) if hold else self._act(rule, run_id, now)
                if step is not None:
                    done.append(step)
            done += self._snapshot_steps(now, holds, act=True, chosen=chosen)
            done += log_steps(self.files, self.ledger, self.audit, now, holds, True, chosen)
        self.audit.append(
            AuditEntry(
                "lifecycle",
                "lifecycle run" + "".join(f" --source {s}" for s in sorted(chosen or ())),
                user=operator(),
                datasets=tuple(sorted({s.dataset for s in done if not s.held})),
                rows=sum(s.rows for s in done if not s.held and s.kind in ("archive", "destroy")),
                detail={
                    "run": run_id,
                    "steps": [
                        {"dataset": s.dataset, "action": s.kind, "count": s.rows, "held": s.held}
                        for s in done
                    ],
                },
            )
        )
        return done

    # -- one table's rows ---------------------------------------------------------------
    def _matching(
        self, rule: TableRule, now: datetime
    ) -> tuple[int, int, float | None, float | None, float] | None:
        """(rows, files, oldest, newest, cutoff) of the rows the rule takes now, or None."""
        cutoff = now - rule.keep
        files = self._files(rule.layer, rule.source.name)
        if not files:
            return None
        scan = self.lake.engine.scan(files, file_column=FILE)
        age = rule.age_sql()
        with self.lake.engine.writer() as session:
            row = session.execute(
                f"SELECT count(*), count(DISTINCT {FILE}), epoch(min({age})), epoch(max({age}))"
                f" FROM {scan} WHERE {rule.where(cutoff)}"
            ).fetchone()
        if row is None or not row[0]:
            return None
        return int(row[0]), int(row[1]), row[2], row[3], cutoff.timestamp()

    def _due(self, rule: TableRule, now: datetime, hold: Hold | None) -> Step | None:
        """The step the rule would take now (held, if ``hold``), or None when nothing is due."""
        found = self._matching(rule, now)
        if found is None:
            return None
        rows, files, first, last, cutoff = found
        held = hold.describe() if hold else None
        return Step(
            rule.dataset,
            rule.rule.then,
            rule.describe(),
            rows,
            files,
            first,
            last,
            cutoff,
            held,
            note="due",
        )

    def _act(self, rule: TableRule, run_id: str, now: datetime) -> Step | None:
        found = self._matching(rule, now)
        if found is None:
            return None
        rows, files, first, last, cutoff = found
        current = self.lake.snapshot_for(rule.layer, rule.source.name)
        action = self.journal.start(
            Action(
                new_id("la-"),
                run_id,
                rule.dataset,
                rule.rule.then,
                rule.describe(),
                "archiving" if rule.rule.then == "archive" else "destroying",
                cutoff,
                rows,
                files,
                first,
                last,
                None,
                current.snapshot_id if current is not None else None,
                time.time(),
                # the rows it takes, fixed now: a later change of weir.yml does not change
                # what a run cut short finishes
                {"where": rule.where(datetime.fromtimestamp(cutoff, UTC)), "age": rule.age_sql()},
            )
        )
        _crash_point("started")
        return self._finish(action, now)

    def _finish(self, action: Action, now: datetime) -> Step:
        layer, name = action.layer, action.source
        where = str(action.detail["where"])
        if action.state == "archiving" and not self._files(layer, name):
            # the table holds no file any more (its rows left it another way): nothing to keep
            action = self.journal.move(action, "destroying", rows=0)
        if action.state == "archiving":
            root = archive_root(self.files)
            folder = storage_for(root, make=False).join(root, layer, name, action.action_id)
            scan = self.lake.engine.scan(self._files(layer, name))
            with self.lake.engine.writer() as session:
                archived = write_archive(
                    session,
                    f"SELECT * FROM {scan} WHERE {where}",
                    folder,
                    {
                        "table": action.dataset,
                        "time_range": {
                            "from": _iso(action.time_from),
                            "to": _iso(action.time_to),
                            "age": action.detail.get("age"),
                        },
                        "why": {
                            "rule": action.rule,
                            "older_than": _iso(action.cutoff),
                            "action": action.action_id,
                            "run": action.run_id,
                            "by": operator(),
                        },
                        "snapshot_id": action.snapshot_id,
                    },
                    self.lake.engine.at_rest,
                )
            verify_archive(folder, archived.rows, self.lake.engine.at_rest)
            _crash_point("archived")
            action = self.journal.move(action, "destroying", archive=folder, rows=archived.rows)
        if action.state == "destroying":
            action = self._destroy(action, where)
        if action.state == "purging":
            replaced = [str(path) for path in action.detail.get("replaced", [])]
            self._purge(layer, name, self.retention.snapshots_for(name), now, replaced)
            expired = {(str(b), str(s)): int(n) for b, s, n in action.detail.get("expired", [])}
            # audited before it is marked done: a run cut short in between audits it once, here
            if not self._audited(action.action_id):
                self.audit.append(_destroyed(action, len({b for b, _ in expired})))
            _crash_point("audited")
            action = self.journal.finish(action, expired)
        return _step_of(action, "done", {})

    def _audited(self, action_id: str) -> bool:
        recent = self.audit.records(kind="lifecycle", limit=50)
        return any((r.entry.detail or {}).get("action") == action_id for r in recent)

    def _destroy(self, action: Action, where: str) -> Action:
        """Rewrite the action's rows out of the table (only those its archive holds)."""
        layer, name = action.layer, action.source
        if action.archive is not None:
            verify_archive(
                action.archive, action.rows, self.lake.engine.at_rest
            )  # again: nothing goes unarchived
            kept = self.lake.engine.scan(archive_files(action.archive))
            where = f"({where}) AND _record_id IN (SELECT _record_id FROM {kept})"
        tagged = [
            s.operation
            for s in self.lake.snapshots(layer, name)
            if s.summary.get(ACTION_TAG) == action.action_id
        ]
        files = self._files(layer, name)
        if not tagged and files:
            fate = {"raw": "_status", "staging": "'accepted'", "quarantine": "'quarantined'"}[layer]
            scan = self.lake.engine.scan(files)
            with self.lake.engine.writer() as session:
                counted = session.execute(
                    f"SELECT _batch_id, {fate}, count(*) FROM {scan} WHERE {where} GROUP BY ALL"
                ).fetchall()
            expired = [[str(b), str(s), int(n)] for b, s, n in counted]
            # the files the rewrite will replace, named now: once no snapshot needs them they
            # are deleted at once, not after the grace a model run's unpublished files get
            replaced = sorted(self.maintenance.matching(layer, name, where))
            action = self.journal.move(
                action,
                "destroying",
                rows=sum(n for _, _, n in expired),
                detail={**action.detail, "expired": expired, "replaced": replaced},
            )
            self.maintenance.rewrite(layer, name, where, summary={ACTION_TAG: action.action_id})
            _crash_point("rewritten")
        elif tagged and tagged[-1] != "append":  # killed between the overwrite and its seal
            self.maintenance.seal(layer, name, {ACTION_TAG: action.action_id})
        return self.journal.move(action, "purging")

    def _purge(
        self, layer: str, name: str, window: str | None, now: datetime, replaced: list[str]
    ) -> tuple[int, int]:
        """Expire snapshots older than the window (all but the current without one), then delete
        the files no snapshot names. Returns (snapshots expired, files deleted)."""
        if window is None:
            expired = self.maintenance.expire(layer, name, all_but_current=True)
        else:
            expired = self.maintenance.expire(layer, name, before=now - parse_duration(window))
        _crash_point("expired")
        removed = self.maintenance.remove_unreferenced(layer, name, also=replaced, grace=GRACE)
        return len(expired), len(removed)

    def _files(self, layer: str, name: str) -> list[str]:
        if not self.lake.exists(layer, name):
            return []
        return self.lake.data_files(layer, name, self.lake.snapshot_for(layer, name))

    # -- snapshots ----------------------------------------------------------------------
    def _snapshot_steps(
        self, now: datetime, holds: dict[str, Hold], act: bool, chosen: set[str] | None = None
    ) -> list[Step]:
        steps = []
        for layer, name in self.lake.tables():
            source_table = layer in RETAINED_LAYERS
            if chosen is not None and not (source_table and name in chosen):
                continue
            window = self.retention.snapshots_for(name if source_table else None)
            if window is None:
                continue
            cut = now - parse_duration(window)
            old = [s for s in self.lake.snapshots(layer, name)[:-1] if s.committed_at < cut]
            if not old:
                continue
            hold = holds.get(name) if source_table else None
            rule = f"snapshots: time travel kept {window}"
            step = Step(
                f"{layer}.{name}",
                "expire",
                rule,
                len(old),
                cutoff=cut.timestamp(),
                time_from=min(s.committed_at for s in old).timestamp(),
                time_to=max(s.committed_at for s in old).timestamp(),
                held=hold.describe() if hold else None,
            )
            if act and hold is None:
                expired, removed = self._purge(layer, name, window, now, [])
                step = replace(step, rows=expired, files=removed, note="done")
                self.audit.append(
                    AuditEntry(
                        "lifecycle",
                        f"lifecycle expire {layer}.{name}",
                        user=operator(),
                        datasets=(f"{layer}.{name}",),
                        detail={
                            "snapshots": expired,
                            "files_deleted": removed,
                            "rule": rule,
                            "older_than": _iso(cut.timestamp()),
                        },
                    )
                )
            steps.append(step)
        return steps


def _step_of(action: Action, note: str, holds: dict[str, Hold]) -> Step:
    hold = holds.get(action.source)
    return Step(
        action.dataset,
        action.kind,
        action.rule,
        action.rows,
        action.files,
        action.time_from,
        action.time_to,
        action.cutoff,
        hold.describe() if hold else None,
        action.archive,
        note,
    )


def _destroyed(action: Action, batches: int) -> AuditEntry:
    """The audit record of one table's rows leaving the lake."""
    return AuditEntry(
        "lifecycle",
        f"lifecycle {action.kind} {action.dataset}",
        user=operator(),
        datasets=(action.dataset,),
        rows=action.rows,
        detail={
            "action": action.action_id,
            "run": action.run_id,
            "rule": action.rule,
            "older_than": _iso(action.cutoff),
            "rows": action.rows,
            "files": action.files,
            "archive": action.archive,
            "batches": batches,
        },
    )


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _crash_point(name: str) -> None:
    """A test hook: WEIR_CRASH_AT=lifecycle:<name> ends the process right there, as a kill would."""
    if os.environ.get("WEIR_CRASH_AT") == f"lifecycle:{name}":
        os._exit(137)
