"""The ingest service of an opened project: what ``weir ingest`` and friends call.

It owns the batch sources' operations and their auditing: an ingest command
leaves one ``ingest`` record with each batch's counts (and each batch its own
``batch`` record, as every batch does, whatever its door).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from weir.engine import table
from weir.errors import NotFoundError, WeirError
from weir.ingest.batch import BatchResult, Ingestor
from weir.ingest.database import unset_address
from weir.ingest.files import matches_under, unmatched_folder
from weir.ingest.probe import (
    DiscoverOptions,
    Probe,
    Proposal,
    discover,
    save_proposal,
    served_target,
    shown_target,
    test_source,
)
from weir.ingest.reconcile import BatchCheck, reconcile
from weir.ingest.status import (
    SnapshotCache,
    SourceStatus,
    quarantine_summary,
    source_statuses,
)
from weir.lake import LakeViews
from weir.metadata.audit import AuditLog
from weir.metadata.definition import operator

_CACHED_SNAPSHOTS = 1000
LAYERS = ("raw", "staging", "quarantine")


class Sources:
    """Ingest, recover, replay and inspect a project's sources."""

    def __init__(self, ingestor: Ingestor, audit: AuditLog) -> None:
        self.ingestor = ingestor
        self.files = ingestor.project
        self.lake = ingestor.lake
        self.audit = audit
        # answers read from a table's snapshot (newest record, quarantine reasons), kept until
        # the table moves on; a long-running server drops them all now and then
        self._by_snapshot: SnapshotCache = {}
        self._status: tuple[Hashable, list[SourceStatus]] | None = None
        self._checks: dict[str, tuple[Hashable, list[BatchCheck]]] = {}
        # the sources the last ingest of every source skipped: the environment variables
        # their URL names that are not set
        self.not_connected: dict[str, list[str]] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self.files.sources)

    def ingest(
        self, sources: Sequence[str] | None = None, path: Path | None = None, wait: float = 0.0
    ) -> list[BatchResult]:
        """Ingest the new files of ``sources`` (all by default), one batch per source.

        ``wait``: seconds to wait for another writer of the lake (a worker's step
        waits; a command at the terminal says at once who is writing).
        """
        names = list(sources) if sources else self.names
        for name in names:
            self.files.source(name)  # fail before any work on an unknown name
        self.not_connected = {}
        if not sources:
            # every source: a database or API whose address is not set here is not connected
            # (named ones fail with the variable to set); each skipped one is said
            for name in [n for n in names if unset_address(self.files.source(n))]:
                names.remove(name)
                self.not_connected[name] = unset_address(self.files.source(name))
                variables = ", ".join(self.not_connected[name])
                self.ingestor.progress(name, f"skipped: not connected here ({variables} not set)")
        if path is not None and not sources:
            # every source: those with a file under the path (none of them is an error)
            configs = [
                c for c in map(self.files.source, names) if c.format != "database"
            ]  # a database source has no files
            names = [c.name for c in configs if matches_under(c, path)]
            if not names:
                raise unmatched_folder(path if path.is_absolute() else Path.cwd() / path, configs)
        self.ingestor.recover(wait)
        action = " ".join(["ingest", *names, *([f"--path {path}"] if path else [])])
        with self.audit.recording("ingest", action, operator()) as note:
            batches = [self.ingestor.ingest(name, [path] if path else None, wait) for name in names]
            written = [b for b in batches if b.batch_id]
            note.datasets = tuple(f"staging.{b.source}" for b in written)
            note.rows = sum(b.counts.received for b in batches)
            note.detail = {
                "batches": {
                    b.source: {
                        "batch": b.batch_id,
                        "received": b.counts.received,
                        "accepted": b.counts.accepted,
                        "quarantined": b.counts.quarantined,
                        "duplicates": b.counts.duplicates,
                        "suppressed": b.counts.suppressed,
                    }
                    for b in written
                }
            }
            if self.not_connected:
                note.detail["not_connected"] = dict(self.not_connected)
        return batches

    def test(self, source: str, limit: int = 10, by: str | None = None) -> tuple[Probe, pa.Table]:
        """Reach ``source`` as an ingest would and read a sample, checked; nothing is stored.

        Returns where it reached and the sample (the contract's text values and
        each record's reasons; classified values withheld). ``by`` is who asked
        (the audit record's user; default: the operator at the terminal).
        """
        config = self.files.source(source)
        with self.audit.recording("ingest", f"sources test {source}", by or operator()) as note:
            session = self.lake.engine.writer()
            try:
                probe, sample = test_source(
                    self.files, config, self.ingestor.ledger, session, limit
                )
            finally:
                session.close()
            note.rows = sample.num_rows
            note.detail = {"reached": probe.reached, "stored": 0}
        return probe, sample

    def discover(
        self,
        target: str,
        options: DiscoverOptions,
        write: bool = False,
        by: str | None = None,
    ) -> tuple[Proposal, Path | None]:
        """A proposed contract for a database table, an API's answer or a spreadsheet;
        saved as ``sources/<name>.yml`` if ``write`` (never over an existing file).

        Audited as ``sources discover TARGET`` (the target without its password or
        its URL's query) under ``by`` (default: the operator at the terminal).
        """
        action = f"sources discover {shown_target(target)}"
        with self.audit.recording("ingest", action, by or operator()) as note:
            proposal = discover(target, options)
            path = save_proposal(self.files.root, proposal) if write else None
            note.detail = {"proposed": proposal.name, "written": path is not None}
        return proposal, path

    def discover_named(
        self,
        url: str | None,
        path: str | None,
        options: DiscoverOptions,
        by: str,
    ) -> Proposal:
        """``discover`` for a caller over HTTP: the URL or path it names is checked first
        (``served_target``: no file outside the landing folder and the sources' locations,
        no file database, no server environment); the proposal is shown, never written."""
        try:
            target = served_target(self.files, url, path)
        except WeirError as refused:
            with self.audit.recording("ingest", "sources discover (refused)", by):
                raise refused from None
        return self.discover(target, options, by=by)[0]

    def recover(self) -> list[str]:
        """Roll back every batch a crash left half-written; returns their ids."""
        return self.ingestor.recover()

    def replay(self, source: str, by: str | None = None) -> BatchResult:
        """Check held records against the current contract; those that pass move to staging.

        ``by`` is who asked (the audit record's user; default: the operator at the terminal).
        """
        self.files.source(source)
        self.ingestor.recover()
        with self.audit.recording(
            "ingest", f"quarantine replay {source}", by or operator()
        ) as note:
            result = self.ingestor.replay(source)
            note.datasets = (f"staging.{source}",) if result.batch_id else ()
            note.rows = result.counts.received
            note.detail = {
                "batch": result.batch_id,
                "released": result.counts.released,
                "still_held": result.counts.quarantined,
            }
        return result

    def status(self) -> list[SourceStatus]:
        """Every source's status, kept while the lake and the ledger stay as they were.

        Whether they did is one query of the ledger and the lake's versions (a
        ``stat`` of its change signal), instead of every batch of every source.
        """
        key = (tuple(sorted(self.lake.versions().items())), self.ingestor.ledger.version())
        kept = self._status
        if kept is not None and kept[0] == key:
            return list(kept[1])
        found = source_statuses(self.files, self.lake, self.ingestor.ledger, self._cache())
        self._status = (key, found)
        return list(found)

    def reconcile(self, sources: Sequence[str] | None = None) -> list[BatchCheck]:
        """Each committed batch's counts checked against raw and staging (and each source's
        quarantine); rows retention took out are counted as expired, not missing.

        A source's checks are kept while its raw, staging and quarantine tables
        and its committed batches stay as they were (a retention run changes the
        tables too): the control panel's sources page shows them on each view,
        and counting a source's tables again costs a scan of each.
        """
        ledger = self.ingestor.ledger
        names = list(sources) if sources else self.names
        versions = self.lake.versions()
        checks: list[BatchCheck] = []
        for name in names:
            committed = tuple(b.batch_id for b in ledger.batches(name) if b.status == "committed")
            key = (*(versions.get((layer, name)) for layer in LAYERS), committed)
            kept = self._checks.get(name)
            if kept is None or kept[0] != key:
                kept = (key, reconcile(self.files, self.lake, ledger, [name]))
                self._checks[name] = kept
            checks.extend(kept[1])
        return checks

    def quarantine_summary(self) -> pa.Table:
        """Per source and reason: how many records are held."""
        return quarantine_summary(self.lake, self.files, self._cache())

    def _cache(self) -> SnapshotCache:
        if len(self._by_snapshot) > _CACHED_SNAPSHOTS:
            self._by_snapshot.clear()
        return self._by_snapshot

    def quarantine(self, source: str, limit: int = 20, reason: str | None = None) -> pa.Table:
        """The records of ``source`` held in quarantine, with their reasons."""
        self.files.source(source)
        if not self.lake.exists("quarantine", source):
            raise NotFoundError(
                f"nothing of {source} is in quarantine", "ingest it first: `weir ingest`"
            )
        views = LakeViews(self.lake)
        session, _ = views.session([f"quarantine.{source}"])
        try:
            query = quarantine_query(source, reason, limit)
            return views.run(session, query.sql("duckdb"))[0]
        finally:
            session.close()
            views.close()


def quarantine_query(
    source: str, reason: str | None = None, limit: int = 20, offset: int = 0
) -> exp.Select:
    """The held records of ``source`` in file order, ``_raw`` last; those of a reason if given.

    A record matches ``reason`` when any of its reasons contains the text (the
    rule's name, or a column's). The CLI runs it in clear; the web app through
    the gateway, as the signed-in user.
    """
    query = (
        exp.select(exp.Star(except_=[exp.column("_raw")]), exp.column("_raw"))
        .from_(table(source, "quarantine"))
        .order_by("_source_file", "_offset")
        .limit(int(limit))
    )
    if offset:
        query = query.offset(int(offset))
    if reason:
        mentions = exp.func(
            "list_contains",
            exp.func(
                "list_transform",
                exp.column("_reasons"),
                exp.Lambda(
                    this=exp.func("contains", exp.column("r"), exp.Literal.string(reason)),
                    expressions=[exp.to_identifier("r")],
                ),
            ),
            exp.true(),
        )
        query = query.where(mentions)
    return query
