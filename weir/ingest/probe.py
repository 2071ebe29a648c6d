"""``weir sources test`` and ``weir sources discover``: one table per command that a format plugs into.

``test`` reaches a source the way an ingest would and shows a sample of what
it would read, checked against its contract, storing nothing. ``discover``
looks at a database table or a file and proposes a contract for a person to
review. Each format brings one function: a ``Tester`` (keyed by the source's
``format``) and a ``Discoverer`` (keyed by what the target is: ``database`` for
a SQLAlchemy URL, ``rest`` for an http(s) URL, a file's extension for a file).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from weir.engine import Session, ident
from weir.errors import WeirError
from weir.ingest.contract import Contract
from weir.ingest.ledger import Ledger
from weir.ingest.readers import read_files, records_columns
from weir.project import ProjectFiles, SourceConfig


@dataclass(frozen=True)
class Probe:
    """What ``weir sources test`` found: where it reached, and a sample of what it would read."""

    source: str
    reached: str  # e.g. "table purchase_orders at postgresql+psycopg://weir:***@db/shop"
    reads: str  # what an ingest would read now, e.g. "rows with updated_at after …"
    records: list[dict[str, str | None]]  # the sample, as the contract's text values


@dataclass(frozen=True)
class Proposal:
    """A proposed contract: the source's name, its YAML text, and what to review in it."""

    name: str
    text: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiscoverOptions:
    table: str | None = None  # a database's table (schema.table), when it holds several
    name: str | None = None  # the source's name (default: from the table or the file)


Tester = Callable[[ProjectFiles, SourceConfig, Ledger, Session, int], Probe]
Discoverer = Callable[[str, DiscoverOptions], Proposal]


def _testers() -> dict[str, Tester]:
    from weir.ingest.database_probe import test_database

    files: Tester = test_files
    return {
        "csv": files,
        "jsonl": files,
        "json": files,
        "xml": files,
        "parquet": files,
        "database": test_database,
    }


def _discoverers() -> dict[str, Discoverer]:
    from weir.ingest.database_probe import discover_database

    return {"database": discover_database}


def test_source(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> tuple[Probe, pa.Table]:
    """Reach ``source`` and read up to ``limit`` records; each checked against the contract."""
    tester = _testers().get(source.format)
    if tester is None:
        raise WeirError(
            f"`weir sources test` cannot test {source.format} sources yet",
            "ingest a small sample instead: `weir ingest NAME`",
        )
    probe = tester(files, source, ledger, session, limit)
    return probe, checked_sample(session, source, probe.records)


def target_kind(target: str) -> str:
    """What ``target`` is: ``rest`` (http/https URL), ``database`` (another URL) or a file type."""
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("http", "https"):
        return "rest"
    if scheme:
        return "database"
    return Path(target).suffix.lstrip(".").lower() or "file"


def discover(target: str, options: DiscoverOptions) -> Proposal:
    """A proposed contract for ``target`` (a database URL or a file), for a person to review."""
    kind = target_kind(target)
    discoverers = _discoverers()
    found = discoverers.get(kind)
    if found is None:
        raise WeirError(
            f"`weir sources discover` cannot propose a contract for a {kind} target yet",
            f"give one of: {', '.join(sorted(discoverers))} "
            "(a database URL such as postgresql+psycopg://user@host/db)",
        )
    return found(target, options)


# -- files ------------------------------------------------------------------------------
def test_files(
    files: ProjectFiles, source: SourceConfig, ledger: Ledger, session: Session, limit: int
) -> Probe:
    """The first new file of a file source, read as an ingest would read it."""
    from weir.ingest.files import new_files

    waiting, skipped = new_files(files.root, source, ledger)
    if not waiting:
        raise WeirError(
            f"no new file of source {source.name} matches {source.location} "
            f"({skipped} already ingested)",
            f"land a file under {source.location}, or check location in sources/{source.name}.yml",
        )
    first = waiting[0]
    read = read_files(session, source, [files.root / first.path])
    names = [n for n, _ in records_columns(source) if n in read.column_names]
    records = read.select(names).slice(0, limit).to_pylist()
    return Probe(
        source.name,
        f"{len(waiting)} new file(s) under {source.location}",
        f"the first, {first.path}",
        records,
    )


# -- the sample, checked ------------------------------------------------------------------
def checked_sample(
    session: Session, source: SourceConfig, records: list[dict[str, str | None]]
) -> pa.Table:
    """The sample's text values with each record's reasons (none when it passes).

    Classified values (pii, pci) are withheld: a sample shows a source's shape,
    never a person's data or a card number.
    """
    columns = records_columns(source)
    table = pa.table(
        {
            name: pa.array(
                [r.get(name) for r in records], pa.int64() if kind == "BIGINT" else pa.string()
            )
            for name, kind in columns
        }
    ).append_column("_seq", pa.array(range(len(records)), pa.int64()))
    session.register("weir_sample", table)
    try:
        contract = Contract(source)
        checked = contract.checked_sql("weir_sample", time.time())
        shown = ", ".join(
            f"{ident(c.name + '__text')} AS {ident(c.name)}"
            if c.classification is None
            else f"CASE WHEN {ident(c.name + '__text')} IS NULL THEN NULL "
            f"ELSE '(withheld: {c.classification})' END AS {ident(c.name)}"
            for c in source.columns
        )
        return session.arrow(
            f"SELECT {shown}, array_to_string(_reasons, '; ') AS _reasons "
            f"FROM ({checked}) ORDER BY _seq"
        )
    finally:
        session.unregister("weir_sample")


def save_proposal(start: Path, proposal: Proposal) -> Path:
    """Write ``proposal`` as ``sources/<name>.yml`` of the project holding ``start``.

    An existing file is never replaced; the text is checked as a contract first.
    """
    from weir.project.loader import SOURCES_DIR, find_root, load_model

    root = find_root(start)
    path = root / SOURCES_DIR / f"{proposal.name}.yml"
    if path.exists():
        raise WeirError(
            f"{path.relative_to(root)} already exists",
            "give another --name, or print the proposal (without --write) and merge it by hand",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(proposal.text, encoding="utf-8")
    try:
        load_model(path, SourceConfig, root)
    except WeirError:
        path.unlink()
        raise
    return path
