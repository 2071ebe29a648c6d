"""The catalog: the datasets a principal may read, their schema, owners, freshness and lineage.

What a role may not read is answered as not found. Each column carries its
classification (PII, PCI) as the policy sees it, and what the latest scan for
personal data found in it where no classification says so
(``weir.governance.scan``); lineage leaves out what the role cannot see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from weir.errors import NotFoundError
from weir.governance.access import Access
from weir.governance.policy import Policy, Principal
from weir.governance.scan import DEFAULT_SAMPLE, Finding, PiiScan, ScanResult
from weir.lake import Lake, SnapshotInfo
from weir.project import ProjectFiles
from weir.transform.model import Model
from weir.transform.service import Models

_INGESTED = ("raw", "staging", "quarantine")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    classification: str | None
    description: str
    findings: tuple[Finding, ...] = ()  # flagged by the latest scan: unclassified personal data


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # layer.table
    layer: str
    owner: str
    description: str
    columns: tuple[ColumnInfo, ...] = ()
    freshness: datetime | None = None  # when its newest snapshot was committed
    row_count: int | None = None
    snapshot_id: int | None = None


@dataclass(frozen=True)
class LineageGraph:
    """A dataset's (or column's) lineage as a graph: ``edges`` run from what is read to what is written.

    Only what the role may read is in it; a path through a dataset it may not
    read is one edge from the visible node before to the visible node after.
    """

    focus: str
    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Page:
    """One page of a listing: ``next_offset`` is None on the last page."""

    items: tuple[Any, ...]
    total: int
    offset: int
    next_offset: int | None


class Catalog:
    """What one project's catalog shows a principal."""

    def __init__(self, files: ProjectFiles, lake: Lake, access: Access, models: Models) -> None:
        self.files = files
        self.lake = lake
        self.access = access
        self.models = models

    @property
    def policy(self) -> Policy:
        return self.access.policy()

    @property
    def pii_scan(self) -> PiiScan:
        return PiiScan(self.lake, self.policy, self.access.store, self.access.audit)

    def scan(
        self,
        datasets: Sequence[str] | None = None,
        sample: int = DEFAULT_SAMPLE,
        user: str | None = None,
    ) -> ScanResult:
        """Sample the tables for personal and card data their classification does not declare."""
        return self.pii_scan.run(datasets, sample, user)

    def findings(
        self, principal: Principal | None = None, all_kinds: bool = False
    ) -> list[Finding]:
        """The latest scan's flagged findings (``all_kinds``: those a classification covers too).

        With a principal, only those of the datasets its role may read.
        """
        visible = None if principal is None else self._visible(principal)
        return self.pii_scan.findings(visible, flagged_only=not all_kinds)

    def datasets(self, principal: Principal, offset: int = 0, limit: int = 100) -> Page:
        """The datasets the principal's role may read, by name, one page at a time."""
        visible = self._visible(principal)
        chosen = visible[offset : offset + limit]
        models = self.models.definitions()
        items = tuple(self._describe(name, models, detailed=False) for name in chosen)
        following = offset + len(chosen)
        return Page(items, len(visible), offset, following if following < len(visible) else None)

    def dataset(self, principal: Principal, name: str) -> DatasetInfo:
        """One dataset's schema (with each column's classification), owner, freshness and size."""
        visible = self._visible(principal)
        if name not in visible:
            raise _no_dataset(name, visible)
        return self._describe(name, self.models.definitions(), detailed=True)

    def snapshots(self, principal: Principal, name: str, limit: int = 20) -> list[SnapshotInfo]:
        """A dataset's newest snapshots (newest first): when, by which batch or build, how much."""
        visible = self._visible(principal)
        if name not in visible:
            raise _no_dataset(name, visible)
        return self.lake.snapshots(*name.split(".", 1))[::-1][:limit]

    def lineage(self, principal: Principal, name: str) -> dict[str, object]:
        """Upstream and downstream of a dataset (or column), leaving out what the role cannot see."""
        self._check_lineage(principal, name)
        found = self.models.lineage(name)

        policy = self.policy

        def seen(items: object) -> list[str]:
            names = cast(list[str], items)
            return [n for n in names if policy.can_read(principal.role, _table_of(n))]

        return {
            "dataset": found["dataset"],
            "upstream": seen(found["upstream"]),
            "downstream": seen(found["downstream"]),
        }

    def lineage_graph(self, principal: Principal, name: str) -> LineageGraph:
        """The lineage of a dataset (or column) as nodes and edges, within what the role sees."""
        self._check_lineage(principal, name)
        focus, edges = self.models.lineage_edges(name)
        policy = self.policy

        def seen(node: str) -> bool:
            return policy.can_read(principal.role, _table_of(node))

        return LineageGraph(focus, *_bridged(focus, edges, seen))

    def _check_lineage(self, principal: Principal, name: str) -> None:
        table = ".".join(name.split(".")[:2])
        visible = self._visible(principal)
        if table not in visible:
            raise _no_dataset(name, visible)
        column = ".".join(name.split(".")[2:])
        if column and column not in self.lake.arrow_schema(*table.split(".")).names:
            raise NotFoundError(
                f"{table} has no column {column}",
                f"see its columns at /api/v1/datasets/{table}",
                kind="column",
                name=name,
            )

    def _visible(self, principal: Principal) -> list[str]:
        available = [f"{layer}.{name}" for layer, name in self.lake.tables()]
        return sorted(self.policy.datasets(principal.role, available))

    def _describe(self, name: str, models: Mapping[str, Model], detailed: bool) -> DatasetInfo:
        layer, _, table = name.partition(".")
        owner, description, column_notes = self._definition(layer, table, models)
        if not detailed:
            return DatasetInfo(name, layer, owner, description)
        classes = self.policy.classification(name)
        flagged: dict[str, list[Finding]] = {}
        for finding in self.pii_scan.findings([name]):
            flagged.setdefault(finding.column, []).append(finding)
        columns = tuple(
            ColumnInfo(
                field.name,
                str(field.type),
                classes.get(field.name),
                column_notes.get(field.name, ""),
                tuple(flagged.get(field.name, ())),
            )
            for field in self.lake.arrow_schema(layer, table)
        )
        snapshot = self.lake.table(layer, table).current_snapshot()
        if snapshot is None:
            return DatasetInfo(name, layer, owner, description, columns, None, 0, None)
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        total = summary.get("total-records")
        return DatasetInfo(
            name,
            layer,
            owner,
            description,
            columns,
            datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
            int(total) if total is not None else None,
            snapshot.snapshot_id,
        )

    def _definition(
        self, layer: str, table: str, models: Mapping[str, Model]
    ) -> tuple[str, str, dict[str, str]]:
        """Owner, description and column descriptions, from the source or the model file."""
        if layer in _INGESTED and table in self.files.sources:
            source = self.files.source(table)
            notes = {c.name: c.description for c in source.columns}
            return source.owner, source.description, notes
        model = models.get(f"{layer}.{table}")
        if model is not None:
            return model.header.owner, model.header.description, {}
        return "data", "", {}


def _table_of(name: str) -> str:
    return ".".join(name.split(".")[:2])


def _no_dataset(name: str, visible: Sequence[str]) -> NotFoundError:
    """Not found, with the closest dataset the role may read (never one it may not)."""
    return NotFoundError.among("dataset", name, visible, "list them at /api/v1/datasets")


def _bridged(
    focus: str, edges: Sequence[tuple[str, str]], seen: Callable[[str], bool]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The visible nodes and edges; a path through hidden nodes becomes one edge."""
    after: dict[str, set[str]] = {}
    for source, target in edges:
        after.setdefault(source, set()).add(target)
    nodes = {focus} | {n for edge in edges for n in edge if seen(n)}
    kept: set[tuple[str, str]] = set()
    for start in nodes:
        stack, passed = list(after.get(start, ())), set()
        while stack:
            current = stack.pop()
            if current in nodes:
                kept.add((start, current))
            elif current not in passed:  # hidden: look past it
                passed.add(current)
                stack.extend(after.get(current, ()))
    return tuple(sorted(nodes)), tuple(sorted(kept))
