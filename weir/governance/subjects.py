"""Data subjects: find one person everywhere weir holds their data, export it, erase it.

``privacy.subjects`` in ``weir.yml`` says which column carries a subject's
identifier in each source. From there, every lake table that can hold them
is a ``Place``: the raw, quarantine and staging tables of those sources, and
every model table whose column lineage reaches one of those identifier
columns (the columns carrying the identifier) or a personal-data column (the
columns that are nulled). A row is the subject's when one of its identifier
columns holds their identifier; in raw and quarantine also when its kept text
(``_raw``) holds one of their lookup values (an e-mail), since a record whose
identifier did not parse still names them there.

``Subjects.find`` counts them in every place (rows in the current snapshot,
and the data files and snapshots of the whole kept history), in the
collector's log and in the audit log; ``export`` returns their rows;
``erase`` (``weir.governance.erasure``) removes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from weir.engine import ident, lit
from weir.errors import NotFoundError, QueryError
from weir.governance.erasure import Certificate, Eraser
from weir.governance.policy import SOURCE_LAYERS, Policy, lake_columns
from weir.governance.proof import BOUND_CHARACTERS
from weir.ingest.ledger import Ledger
from weir.lake import Lake, Maintenance, opened_scan
from weir.metadata.audit import AuditEntry, AuditLog
from weir.metadata.definition import operator
from weir.metadata.erasures import ErasureRegistry
from weir.metadata.pii import PiiCipher
from weir.project import ProjectFiles
from weir.project.privacy import SubjectConfig
from weir.streams.lane import decode
from weir.streams.logs import collector_logs, log_stream
from weir.streams.purge import count_matching
from weir.transform.service import Models

MIN_PROOF = 4  # shorter values (an initial, a two-letter code) would match everywhere


@dataclass(frozen=True)
class Subject:
    """One person, resolved: their kind (``customer``), identifier and its configuration."""

    kind: str
    id: str
    config: SubjectConfig
    integer: bool

    def literal(self) -> str:
        return self.id if self.integer else lit(self.id)


@dataclass(frozen=True)
class Place:
    """A lake table that can hold a subject, with the columns that name them or hold their data."""

    layer: str
    name: str
    ids: tuple[str, ...]  # columns carrying the identifier
    pii: tuple[str, ...]  # columns of personal data
    text: bool  # raw and quarantine keep every field as text

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    def where(self, subject: Subject, lookups: list[str]) -> str:
        """SQL true for the subject's rows of this table."""
        tests = [
            f"trim({ident(c)}) = {lit(subject.id)}"
            if self.text
            else f"{ident(c)} = {subject.literal()}"
            for c in self.ids
        ]
        if self.text:
            tests += [f"contains(lower(_raw), {lit(v.lower())})" for v in lookups]
        return " OR ".join(f"coalesce({t}, false)" for t in tests) or "false"


@dataclass(frozen=True)
class Found:
    """A subject in one place: rows now, and the files and snapshots of the kept history."""

    table: str
    rows: int
    files: int
    snapshots: int

    def as_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "rows": self.rows,
            "files": self.files,
            "snapshots": self.snapshots,
        }


@dataclass(frozen=True)
class SubjectReport:
    """Everywhere one subject's data lives (``weir subject find``)."""

    kind: str
    id: str
    places: tuple[Found, ...]
    collector_log: dict[str, dict[str, int]]
    audit_records: int
    erased: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())
    holds: tuple[dict[str, str], ...] = field(default=())  # active legal holds on the person

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.places)

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.kind,
            "id": self.id,
            "rows": self.rows,
            "places": [p.as_dict() for p in self.places],
            "collector_log": self.collector_log,
            "audit_records": self.audit_records,
            "erased": self.erased,
            "notes": list(self.notes),
            "holds": [dict(h) for h in self.holds],
        }


class Subjects:
    """Finds, exports and erases data subjects across the lake, the logs and the metadata."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        ledger: Ledger,
        audit: AuditLog,
        models: Models,
        erasures: ErasureRegistry,
        cipher: PiiCipher | None = None,
        guard: Callable[[Subject], None] | None = None,
        held: Callable[[Subject], list[dict[str, str]]] | None = None,
    ) -> None:
        """``cipher``: the subjects' data keys, destroyed first when one of them is erased;
        ``guard``: asked before an erasure; it raises to refuse one (a legal hold);
        ``held``: the active legal holds on a person, as ``find`` shows them."""
        self.files = files
        self.lake = lake
        self.ledger = ledger
        self.audit = audit
        self.models = models
        self.erasures = erasures
        self.cipher = cipher
        self.guard = guard
        self.held = held

    # -- who -----------------------------------------------------------------------------
    def kinds(self) -> list[str]:
        return sorted(self.files.config.privacy.subjects)

    def subject_kind(self, kind: str | None) -> tuple[str, SubjectConfig]:
        subjects = self.files.config.privacy.subjects
        if not subjects:
            raise NotFoundError(
                "this project declares no data subjects",
                "declare them under privacy: subjects: in weir.yml (docs/privacy.md)",
            )
        if kind is None:
            if len(subjects) > 1:
                raise QueryError(
                    f"this project has several kinds of subject ({', '.join(sorted(subjects))})",
                    "say which with --kind",
                )
            kind = next(iter(subjects))
        if kind not in subjects:
            raise NotFoundError(
                f"no kind of subject named '{kind}'", f"use one of: {', '.join(sorted(subjects))}"
            )
        return kind, subjects[kind]

    def resolve(
        self,
        subject_id: str | int | None = None,
        *,
        email: str | None = None,
        phone: str | None = None,
        kind: str | None = None,
        lookup: dict[str, str] | None = None,
    ) -> Subject:
        """The subject an identifier, an e-mail or a phone number names; exactly one, or an error."""
        name, config = self.subject_kind(kind)
        asked = {k: v for k, v in {"email": email, "phone": phone, **(lookup or {})}.items() if v}
        given = (subject_id is not None) + len(asked)
        if given != 1:
            raise QueryError(
                "name the subject by exactly one of: an id, --email, --phone",
                "e.g. `weir subject find 42` or `weir subject find --email ann@example.com`",
            )
        integer = self._integer(config)
        if subject_id is not None:
            text = str(subject_id).strip()
            if integer:
                try:
                    text = str(int(text))
                except ValueError:
                    raise QueryError(
                        f"'{subject_id}' is not a {name} id: {config.key} is an integer",
                        f"pass the {config.key}, or look them up with --email or --phone",
                    ) from None
            return Subject(name, text, config, integer)
        ((by, value),) = asked.items()
        if by not in config.lookup:
            raise QueryError(
                f"{name} subjects cannot be looked up by {by}",
                f"declare it under privacy.subjects.{name}.lookup, or use: "
                f"{', '.join(sorted(config.lookup)) or 'their id'}",
            )
        ids = self._lookup(config, by, value)
        if not ids:
            raise NotFoundError(
                f"no {name} has that {by}",
                "check the spelling; `weir subject find ID` finds them by their id",
            )
        if len(ids) > 1:
            raise QueryError(
                f"that {by} belongs to {len(ids)} {name}s (ids {', '.join(ids)}); nothing was done",
                f"name one by their id: `weir subject find {ids[0]}`",
            )
        return Subject(name, ids[0], config, integer)

    def _integer(self, config: SubjectConfig) -> bool:
        source, column = next(iter(config.sources.items()))
        return self.files.source(source).column(column).type == "int"

    def _lookup(self, config: SubjectConfig, by: str, value: str) -> list[str]:
        source, column = config.lookup_column(by)
        id_column = config.sources[source]
        found: set[str] = set()
        for layer in ("staging", "raw"):
            files = self._current(layer, source)
            if not files:
                continue
            with self.lake.engine.writer() as session:
                scan = opened_scan(self.lake, session, layer, source, files)
                rows = session.execute(
                    f"SELECT DISTINCT CAST({ident(id_column)} AS VARCHAR) FROM"
                    f" {scan} WHERE lower(trim({ident(column)})) ="
                    f" lower(trim(?)) AND {ident(id_column)} IS NOT NULL",
                    [value],
                ).fetchall()
            found.update(str(row[0]).strip() for row in rows)
        return sorted(found, key=lambda v: (len(v), v))

    # -- where ---------------------------------------------------------------------------
    def places(self, subject: Subject) -> list[Place]:
        """Every lake table that can hold the subject, with its identifier and personal columns."""
        config = subject.config
        tables = set(self.lake.tables())
        found: list[Place] = []
        for source_name, column in config.sources.items():
            source = self.files.source(source_name)
            pii = tuple(c.name for c in source.columns if c.classification == "pii")
            for layer in SOURCE_LAYERS:
                if (layer, source_name) not in tables:
                    continue
                text = layer != "staging"
                extra = ("_raw", "_problem") if text else ()
                found.append(Place(layer, source_name, (column,), pii + extra, text))
        lineage = self.models.log.lineage()
        policy = Policy(self.files, lineage, lake_columns(self.lake))
        roots = {
            f"{layer}.{s}.{c}" for s, c in config.sources.items() for layer in ("raw", "staging")
        }
        for layer, name in sorted(tables):
            if layer in SOURCE_LAYERS:
                continue
            dataset = f"{layer}.{name}"
            schema = self.lake.arrow_schema(layer, name)
            ids = tuple(
                f.name
                for f in schema
                if reaches(lineage, dataset, f.name, roots)
                and (
                    str(f.type).startswith(("int", "uint"))
                    if subject.integer
                    else str(f.type) in ("string", "large_string")
                )
            )
            classes = policy.classification(dataset)
            pii = tuple(c for c, k in classes.items() if k == "pii" and c not in ids)
            if ids:
                found.append(Place(layer, name, ids, pii, False))
        return found

    def proof_values(self, subject: Subject) -> dict[str, str]:
        """The subject's personal text values the verification scan looks for (label -> value).

        Every text value of their sources' personal-data columns that is not one of a
        list of allowed values (``enum``), of at least ``MIN_PROOF`` characters, and that
        no other person's record of that source holds: a value others share (a stock
        reply "Refund issued.", a common last name) is no evidence of this person, and
        finding it in someone else's row proves nothing.
        """
        values: dict[str, str] = {}
        for source_name, column in subject.config.sources.items():
            source = self.files.source(source_name)
            texts = [
                c.name
                for c in source.columns
                if c.classification == "pii" and c.type == "string" and not c.enum
            ]
            raw = self._all_files("raw", source_name)
            if not texts or not raw:
                continue
            where = Place("raw", source_name, (column,), (), True).where(subject, [])
            found: dict[str, set[str]] = {}
            with self.lake.engine.writer() as session:
                scan = opened_scan(self.lake, session, "raw", source_name, raw)
                for name in texts:
                    text = f"trim(CAST({ident(name)} AS VARCHAR))"
                    rows = session.execute(
                        f"SELECT DISTINCT {text} AS v FROM {scan} WHERE {where}"
                        f" AND length({text}) >= {MIN_PROOF}"
                        f" EXCEPT SELECT DISTINCT {text} FROM {scan} WHERE NOT ({where})"
                    ).fetchall()
                    found[name] = {str(row[0]) for row in rows if row[0] is not None}
            for name in texts:
                for number, value in enumerate(sorted(found[name]), start=1):
                    if value not in values.values():
                        label = f"{source_name}.{name}"
                        values[label if number == 1 else f"{label}#{number}"] = value
        return values

    def shared_prefixes(self, values: dict[str, str]) -> set[str]:
        """Labels of values whose first 16 characters another record of their source begins with.

        A manifest keeps text bounds cut to 16 characters; such a prefix of a stock
        phrase is no evidence of one person, so the scan looks for those values whole.
        """
        shared: set[str] = set()
        for label, value in values.items():
            source, _, column = label.split("#")[0].partition(".")
            files = self._current("raw", source)
            if len(value) <= BOUND_CHARACTERS or not files:
                continue
            with self.lake.engine.writer() as session:
                scan = opened_scan(self.lake, session, "raw", source, files)
                row = session.execute(
                    f"SELECT count(*) FROM {scan} WHERE"
                    f" starts_with(lower(trim(CAST({ident(column)} AS VARCHAR))), ?)",
                    [value[:BOUND_CHARACTERS].lower()],
                ).fetchone()
            if row and row[0]:
                shared.add(label)
        return shared

    def lookups(self, subject: Subject, values: dict[str, str]) -> list[str]:
        """The subject's lookup values (their e-mail, phone) among ``values``."""
        labels = set(subject.config.lookup.values())
        return [v for k, v in values.items() if k.split("#")[0] in labels]

    # -- find ----------------------------------------------------------------------------
    def find(self, subject: Subject, user: str | None = None) -> SubjectReport:
        """Every place the subject's data lives, with counts; audited."""
        erasure = self.erasures.find(subject.kind, subject.id)
        values = self.proof_values(subject)
        lookups = self.lookups(subject, values)
        found = [f for f in self.found_in_lake(subject, lookups) if f.rows or f.files]
        logs = self._in_logs(subject, lookups)
        audit = self.audit_mentions(subject, list(values.values()))
        erased = None
        if erasure is not None:
            erased = {
                "erasure": erasure.erasure_id,
                "state": erasure.state,
                "reason": erasure.reason,
            }
        holds = tuple(self.held(subject)) if self.held is not None else ()
        if not found and not any(logs.values()) and erasure is None and not holds:
            raise NotFoundError(
                f"no {subject.kind} {subject.id} anywhere in this project",
                "check the id; `weir subject find --email ...` looks them up",
            )
        report = SubjectReport(
            subject.kind, subject.id, tuple(found), logs, audit, erased, holds=holds
        )
        self.audit.append(
            AuditEntry(
                "subject.find",
                f"find {subject.kind}",
                user=user or operator(),
                datasets=tuple(f.table for f in found),
                rows=report.rows,
                detail={"subject_hash": self.erasures.digest(subject.kind, subject.id)},
            )
        )
        return report

    def found_in_lake(self, subject: Subject, lookups: list[str]) -> Iterator[Found]:
        """The subject in each place: rows now, files and snapshots of the kept history."""
        maintenance = Maintenance(self.lake)
        for place in self.places(subject):
            history = maintenance.history(place.layer, place.name)
            every = frozenset().union(*history.values()) if history else frozenset()
            matched = maintenance.matching(
                place.layer, place.name, place.where(subject, lookups), every
            )
            current = set(maintenance.current(place.layer, place.name))
            rows = sum(n for path, n in matched.items() if path in current)
            snapshots = sum(1 for files in history.values() if files & set(matched))
            yield Found(place.table, rows, len(matched), snapshots)

    def _in_logs(self, subject: Subject, lookups: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for source in self.files.config.collector.sources or []:
            column = subject.config.sources.get(source)
            if column is None:
                continue
            for log in collector_logs(self.files.state_dir, source):  # one per collector process
                if not log.folder.is_dir():
                    continue
                matcher = self.log_matcher(subject, source, lookups)
                records, segments = count_matching(log.folder, matcher)
                if records:
                    counted = out.setdefault(source, {"records": 0, "segments": 0})
                    counted["records"] += records
                    counted["segments"] += segments
        return out

    def log_matcher(
        self, subject: Subject, source: str, lookups: list[str]
    ) -> Callable[[bytes], bool]:
        config = self.files.source(source)
        cards = sum(1 for c in config.columns if c.classification == "pci")
        return log_matcher(subject, subject.config.sources[source], lookups, cards)

    def committed_position(self, source: str, instance: int = 0) -> int:
        """How far the lake holds collector process ``instance``'s log of ``source``."""
        stream = log_stream(source, instance)
        return int(self.ledger.positions(stream).get(stream, "0"))

    def audit_mentions(self, subject: Subject, values: list[str]) -> int:
        """Audit records whose text (SQL, details) holds one of the subject's values."""
        finder = getattr(self.audit, "find_literals", None)
        if finder is not None:
            return int(finder(values))
        tests = [v.lower() for v in values if v]
        if not tests:
            return 0
        clauses = " OR ".join(
            f"lower(action) LIKE :v{i} ESCAPE '!' OR lower(coalesce(detail, '')) LIKE :v{i} ESCAPE '!'"
            for i in range(len(tests))
        )
        params = {f"v{i}": f"%{_escape_like(v)}%" for i, v in enumerate(tests)}
        with self.audit.store.begin() as db:
            row = db.execute(
                sa.text(f"SELECT count(*) FROM weir_audit WHERE {clauses}"), params
            ).first()
        return int(row[0]) if row else 0

    # -- export --------------------------------------------------------------------------
    def export(self, subject: Subject, user: str | None = None) -> dict[str, Any]:
        """Everything weir holds about the subject, every layer, in clear; audited."""
        values = self.proof_values(subject)
        lookups = self.lookups(subject, values)
        tables: dict[str, list[dict[str, Any]]] = {}
        for place in self.places(subject):
            files = self._current(place.layer, place.name)
            if not files:
                continue
            with self.lake.engine.writer() as session:
                scan = opened_scan(self.lake, session, place.layer, place.name, files)
                rows = session.arrow(
                    f"SELECT * FROM {scan} WHERE {place.where(subject, lookups)}"
                ).to_pylist()
            if rows:
                tables[place.table] = [json.loads(json.dumps(row, default=str)) for row in rows]
        if not tables:
            raise NotFoundError(
                f"no {subject.kind} {subject.id} in the lake",
                "check the id with `weir subject find`",
            )
        count = sum(len(rows) for rows in tables.values())
        export = {"subject": subject.kind, "id": subject.id, "tables": tables, "rows": count}
        self.audit.append(
            AuditEntry(
                "subject.export",
                f"export {subject.kind}",
                user=user or operator(),
                datasets=tuple(sorted(tables)),
                rows=count,
                detail={"subject_hash": self.erasures.digest(subject.kind, subject.id)},
            )
        )
        return export

    # -- helpers -------------------------------------------------------------------------
    def _current(self, layer: str, name: str) -> list[str]:
        if not self.lake.exists(layer, name):
            return []
        return self.lake.data_files(layer, name, self.lake.snapshot_for(layer, name))

    def _all_files(self, layer: str, name: str) -> list[str]:
        if not self.lake.exists(layer, name):
            return []
        history = Maintenance(self.lake).history(layer, name)
        return sorted(frozenset().union(*history.values())) if history else []

    def destroy_key(self, subject: Subject) -> bool:
        """Destroy the subject's data key: every sealed value of theirs reads as NULL at once,
        in every snapshot and backup. False when they had none (nothing of theirs was sealed)."""
        if self.cipher is None or not self.cipher.has_key(subject.kind, subject.id):
            return False
        return self.cipher.destroy(subject.kind, subject.id)

    def erase(self, subject: Subject, reason: str, user: str | None = None) -> Certificate:
        """Erase the subject everywhere (or finish an interrupted erasure); the certificate.

        Refused, with nothing changed, while the guard objects (a legal hold on them).
        """
        if self.guard is not None:
            self.guard(subject)
        return Eraser(self, user).erase(subject, reason)


def log_matcher(
    subject: Subject, column: str, lookups: list[str], cards: int
) -> Callable[[bytes], bool]:
    """A test of one log record: does its event name the subject (by id or a lookup value)?"""
    needles = [v.lower() for v in lookups]

    def matches(payload: bytes) -> bool:
        text = decode(0, payload, cards).text
        lowered = text.lower()
        if any(n in lowered for n in needles):
            return True
        try:
            event = json.loads(text)
        except ValueError:
            return False
        value = event.get(column) if isinstance(event, dict) else None
        return value is not None and str(value).strip() == subject.id

    return matches


def reaches(
    lineage: dict[str, dict[str, list[str]]], dataset: str, column: str, roots: set[str]
) -> bool:
    """Whether ``dataset.column`` is computed from one of ``roots`` (through any models)."""
    seen: set[str] = set()
    stack = [f"{dataset}.{column}"]
    while stack:
        current = stack.pop()
        if current in roots:
            return True
        if current in seen:
            continue
        seen.add(current)
        table, _, name = current.rpartition(".")
        stack.extend(lineage.get(table, {}).get(name, ()))
    return False


def _escape_like(value: str) -> str:
    return value.replace("!", "!!").replace("%", "!%").replace("_", "!_")
