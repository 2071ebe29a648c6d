"""Erasing one data subject everywhere weir wrote, and the certificate that proves it.

An erasure is a sequence of steps, each idempotent and ticked off in the
erasure registry (``weir_erasures``) when it ends, so a run a crash
interrupted is finished by running ``erase`` again:

1. ``collect``: the subject's personal text values (the proof values the
   verification scan looks for) go to a file readable by its owner only in
   ``keys/`` (never to the database, whose free pages would keep them), and
   the erasure is recorded with a keyed hash of the identifier, from which
   moment ingestion suppresses records about the subject;
2. ``lake:<table>`` for each table that holds them now or in an older
   snapshot: the files holding their rows are written again with the
   identifier replaced by a stable pseudonym and personal columns null (the
   quarantine's rows are dropped), the older snapshots expired and the files
   no snapshot needs deleted (``weir.lake.Maintenance``);
3. ``log``: the collector's log segments already in the lake are deleted
   (``weir.streams.purge``); records not flushed yet are suppressed when they are;
4. ``metadata``: the audit log's literals holding their values are erased
   (``AuditLog.erase_literals`` where this weir has it), and the metadata
   database rewritten so no free page keeps them (SQLite ``VACUUM`` and a
   checkpoint that empties its ``-wal`` file; PostgreSQL ``VACUUM FULL``);
5. ``certificate``: a verification scan of every file under the state folder,
   the certificate written to the audit log and the registry, and the proof
   values' file deleted.

A rerun skips ``collect`` and does every other step again, each finding
little left to do: a model build that read the lake before the erasure may
have committed the subject again since, a query may have named them in the
audit log since.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from weir.engine import DataKey, ident
from weir.errors import NotFoundError, QueryError
from weir.governance.proof import scan
from weir.lake import Maintenance
from weir.metadata.audit import AuditEntry
from weir.metadata.definition import operator
from weir.metadata.erasures import Erasure
from weir.streams.logs import flushing, instances, wal_folder, wal_root
from weir.streams.purge import purge_log

if TYPE_CHECKING:
    from weir.governance.subjects import Place, Subject, Subjects

# A test hook: WEIR_ERASE_CRASH_AT=<step> kills the process right after that step is ticked
CRASH_VARIABLE = "WEIR_ERASE_CRASH_AT"


@dataclass(frozen=True)
class Certificate:
    """What an erasure did and what its verification scan found."""

    body: dict[str, Any]

    @property
    def verified(self) -> bool:
        return bool(self.body.get("verified"))

    def as_dict(self) -> dict[str, Any]:
        return self.body

    def summary(self) -> str:
        """One line: which erasure, how much it removed, and whether the scan certified it."""
        body = self.body
        scan = body.get("verification", {})
        found = "no copy found" if scan.get("clean") else f"{len(scan.get('hits', []))} hit(s)"
        return (
            f"erasure {body['erasure']} of a {body['subject']}: {body['rows']} row(s) in "
            f"{len(body['tables'])} table(s), {body['files_removed']} file(s) and "
            f"{body['snapshots_expired']} snapshot(s) removed; verification of "
            f"{scan.get('files', 0)} file(s): {found} — "
            + ("certified" if self.verified else "NOT verified")
        )


class Eraser:
    """Runs (or finishes) the erasure of one subject."""

    def __init__(self, subjects: Subjects, user: str | None = None) -> None:
        self.subjects = subjects
        self.user = user or operator()  # who asked: the requester and certifier of record
        self.lake = subjects.lake
        self.registry = subjects.erasures
        self.state_dir = subjects.files.state_dir

    def erase(self, subject: Subject, reason: str) -> Certificate:
        if not reason.strip():
            raise QueryError(
                "an erasure needs a reason",
                'say why: --reason "GDPR art. 17 request of 2026-12-01"',
            )
        erasure = self.registry.find(subject.kind, subject.id)
        if erasure is not None and erasure.state == "done" and erasure.certificate is not None:
            return Certificate({**erasure.certificate, "already_erased": True})
        proof_file = self._proof_file(subject)
        values = _read_proof(proof_file, self.lake.engine.at_rest)
        if erasure is None:
            values = {**values, **self.subjects.proof_values(subject)}
            found = list(
                self.subjects.found_in_lake(subject, self.subjects.lookups(subject, values))
            )
            if not any(f.rows or f.files for f in found):
                raise NotFoundError(
                    f"no {subject.kind} {subject.id} anywhere in the lake; nothing was erased",
                    "check the id with `weir subject find`",
                )
            _write_proof(proof_file, values, self.lake.engine.at_rest)
            erasure = self.registry.begin(subject.kind, subject.id, reason.strip(), self.user)
            self._done(
                erasure, "collect", {"tables": [f.as_dict() for f in found if f.rows or f.files]}
            )
        elif not values:  # the file of values went missing: take what is left to find
            values = self.subjects.proof_values(subject)
            _write_proof(proof_file, values, self.lake.engine.at_rest)
        if "key" not in erasure.steps:
            # first the key: what was sealed under it is unreadable everywhere from now on,
            # old snapshots and backups included; the purge below then removes the ciphertext
            self._done(erasure, "key", {"destroyed": self.subjects.destroy_key(subject)})
        lookups = self.subjects.lookups(subject, values)
        # Every step after the first is done again on a rerun, each finding little left to do:
        # a model build that read the lake before the erasure may have committed the subject
        # again after their table was done, a query may have named them in the audit log since.
        for place in self.subjects.places(subject):
            step = f"lake:{place.table}"
            outcome = self._erase_table(subject, place, lookups)
            self._done(erasure, step, _added(erasure.steps.get(step), outcome))
        self._done(
            erasure, "log", _logs(erasure.steps.get("log"), self._purge_logs(subject, lookups))
        )
        metadata = self._clean_metadata(list(values.values()))
        self._done(erasure, "metadata", _added(erasure.steps.get("metadata"), metadata))
        return self._certify(subject, erasure, values, proof_file)

    # -- steps ---------------------------------------------------------------------------
    def _erase_table(self, subject: Subject, place: Place, lookups: list[str]) -> dict[str, Any]:
        maintenance = Maintenance(self.lake)
        where = place.where(subject, lookups)
        with self.lake.writing(wait=60.0):
            history = maintenance.history(place.layer, place.name)
            every = frozenset().union(*history.values()) if history else frozenset()
            held = maintenance.matching(place.layer, place.name, where, every)
            if not held:
                return {"rows": 0, "files_rewritten": 0, "snapshots_expired": 0, "files_removed": 0}
            if place.layer == "quarantine":
                done = maintenance.rewrite(place.layer, place.name, where)
            else:
                pseudonym = self.pseudonym_sql(subject, place.text)
                done = maintenance.rewrite(
                    place.layer,
                    place.name,
                    where,
                    lambda scan: _pseudonymised(scan, place, where, pseudonym),
                )
            expired = maintenance.expire(place.layer, place.name, all_but_current=True)
            removed = maintenance.remove_unreferenced(
                place.layer, place.name, also=[*done.replaced, *held]
            )
        return {
            "rows": done.rows,
            "files_rewritten": len(done.replaced),
            "snapshots_expired": len(expired),
            "files_removed": len(removed),
            "dropped": place.layer == "quarantine",
        }

    def pseudonym_sql(self, subject: Subject, text: bool) -> str:
        value = self.registry.pseudonym(subject.kind, subject.id, subject.integer)
        return f"'{value}'" if text or not subject.integer else str(value)

    def _purge_logs(self, subject: Subject, lookups: list[str]) -> list[dict[str, Any]]:
        """Purge the subject from every collector process's log of each source (one line each)."""
        found: dict[str, dict[str, Any]] = {}
        for instance in instances(self.state_dir):
            root = wal_root(self.state_dir, instance)
            if not root.is_dir():
                continue
            with flushing(root, wait=60.0):
                for source in self.subjects.files.config.collector.sources or []:
                    if source not in subject.config.sources:
                        continue
                    purged = purge_log(
                        wal_folder(self.state_dir, source, instance),
                        source,
                        self.subjects.committed_position(source, instance),
                        self.subjects.log_matcher(subject, source, lookups),
                    )
                    if purged.matching or purged.deleted:
                        line = found.setdefault(
                            source,
                            {
                                "source": source,
                                "records": 0,
                                "segments_deleted": 0,
                                "pending": 0,
                                "live": False,
                            },
                        )
                        line["records"] += purged.matching
                        line["segments_deleted"] += len(purged.deleted)
                        line["pending"] += purged.pending
                        line["live"] = line["live"] or purged.live
        return list(found.values())

    def _clean_metadata(self, values: list[str]) -> dict[str, Any]:
        audit = self.subjects.audit
        eraser = getattr(audit, "erase_literals", None)
        literals = int(eraser(values)) if eraser is not None and values else None
        store = audit.store
        engine = store.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            if engine.dialect.name == "sqlite":
                db.exec_driver_sql("VACUUM")
                busy, _, _ = db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                vacuumed = ["the whole database (VACUUM)", "its -wal file (checkpoint)"]
                complete = not busy
            else:
                for name in ("weir_audit", "weir_erasures"):
                    db.execute(sa.text(f"VACUUM FULL {ident(name, 'postgres')}"))
                vacuumed = ["weir_audit (VACUUM FULL)", "weir_erasures (VACUUM FULL)"]
                complete = True
        return {
            "audit_literals_erased": literals,
            "audit_literals_supported": eraser is not None,
            "vacuumed": vacuumed,
            "complete": complete,
        }

    def _certify(
        self, subject: Subject, erasure: Erasure, values: dict[str, str], proof_file: Path
    ) -> Certificate:
        erasure = self.registry.find(subject.kind, subject.id) or erasure
        steps = erasure.steps
        lake = self.lake.storage.root
        inside = self.lake.storage.local and Path(lake).resolve().is_relative_to(
            self.state_dir.resolve()
        )
        result = scan(
            self.state_dir,
            values,
            skip=[proof_file],
            whole_only=self.subjects.shared_prefixes(values),
            key=self.lake.engine.at_rest,
            also=[] if inside else [lake],  # a lake elsewhere (an object store) is searched too
        )
        tables = [
            {"table": step.removeprefix("lake:"), **outcome}
            for step, outcome in sorted(steps.items())
            if step.startswith("lake:")
            and any(outcome.get(k) for k in ("rows", "files_removed", "snapshots_expired"))
        ]
        pending = sum(int(log.get("pending", 0)) for log in steps.get("log", []))
        body: dict[str, Any] = {
            "erasure": erasure.erasure_id,
            "subject": subject.kind,
            "subject_hash": erasure.subject_hash,
            "reason": erasure.reason,
            "requested_by": erasure.requested_by,
            "certified_by": self.user,
            "started_at": erasure.started_at,
            "finished_at": time.time(),
            "found": steps.get("collect", {}).get("tables", []),
            "tables": tables,
            "rows": sum(int(t.get("rows", 0)) for t in tables),
            "files_removed": sum(int(t.get("files_removed", 0)) for t in tables),
            "snapshots_expired": sum(int(t.get("snapshots_expired", 0)) for t in tables),
            "collector_log": steps.get("log", []),
            "collector_pending": pending,
            "metadata": steps.get("metadata", {}),
            "key_destroyed": bool(steps.get("key", {}).get("destroyed", False)),
            "verification": {
                **result.as_dict(),
                "folder": str(self.state_dir),
                "lake": lake,
                "values": sorted(values),  # labels only, never the values
            },
            "verified": result.clean and pending == 0,
        }
        self.subjects.audit.append(
            AuditEntry(
                "subject.erase",
                f"erase {subject.kind}",
                user=self.user,
                datasets=tuple(t["table"] for t in tables),
                rows=body["rows"],
                reason=erasure.reason,
                detail=body,
            )
        )
        if body["verified"]:
            self.registry.finish(erasure.erasure_id, body)
            proof_file.unlink(missing_ok=True)
        return Certificate(body)

    def _done(self, erasure: Erasure, step: str, outcome: Any) -> None:
        self.registry.step_done(erasure.erasure_id, step, outcome)
        erasure.steps[step] = outcome
        if os.environ.get(CRASH_VARIABLE) == step:
            os._exit(137)

    def _proof_file(self, subject: Subject) -> Path:
        digest = self.registry.digest(subject.kind, subject.id)
        return self.state_dir / "keys" / f"erasure-{digest[:24]}.json"


def _pseudonymised(scan: str, place: Place, where: str, pseudonym: str) -> str:
    """One file's rows with the subject's identifier pseudonymised and personal data null."""
    replaced = [
        f"CASE WHEN {where} THEN {pseudonym} ELSE {ident(c)} END AS {ident(c)}" for c in place.ids
    ]
    replaced += [  # an identifier that is personal data too (an e-mail address) keeps its pseudonym
        f"CASE WHEN {where} THEN NULL ELSE {ident(c)} END AS {ident(c)}"
        for c in place.pii
        if c not in place.ids
    ]
    return f"SELECT * REPLACE ({', '.join(replaced)}) FROM {scan}"


def _added(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    """A step's counts over every run of it (what is not a count: the latest run's)."""
    if not before:
        return now
    return {
        k: int(before.get(k) or 0) + v if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in now.items()
    }


def _logs(before: list[dict[str, Any]] | None, now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log step's counts per source over every run; ``pending``: the latest run's."""
    merged = {log["source"]: log for log in before or []}
    for log in now:
        old = merged.get(log["source"])
        merged[log["source"]] = (
            {**_added(old, log), "pending": log["pending"]} if old is not None else log
        )
    sources = {log["source"] for log in now}
    return [log if log["source"] in sources else {**log, "pending": 0} for log in merged.values()]


_PROOF = b"weir erasure proof values"


def _read_proof(path: Path, key: DataKey | None) -> dict[str, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    return dict(json.loads(data if key is None else key.unseal(data, _PROOF)))


def _write_proof(path: Path, values: dict[str, str], key: DataKey | None) -> None:
    """The proof values, written whole (a temporary file renamed), readable by the owner only;
    encrypted with the lake's data key when the project is encrypted at rest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    data = json.dumps(values).encode("utf-8")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data if key is None else key.seal(data, _PROOF))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
