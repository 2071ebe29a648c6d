"""The catalog: the datasets a principal may read, their schema, owners, freshness and lineage.

What a role may not read is answered as not found. Each column carries its
classification (PII, PCI) as the policy sees it; lineage leaves out what the
role cannot see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from weir.errors import NotFoundError
from weir.governance.access import Access
from weir.governance.policy import Policy, Principal
from weir.lake import Lake
from weir.project import ProjectFiles
from weir.transform.model import Model, load_models
from weir.transform.service import Models

_INGESTED = ("raw", "staging", "quarantine")


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    classification: str | None
    description: str


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

    def datasets(self, principal: Principal, offset: int = 0, limit: int = 100) -> Page:
        """The datasets the principal's role may read, by name, one page at a time."""
        visible = self._visible(principal)
        chosen = visible[offset : offset + limit]
        models = load_models(
            self.files.root, self.files.state_dir / "cache" / "models.json"
        )  # parsed once for the page, not per dataset
        items = tuple(self._describe(name, models, detailed=False) for name in chosen)
        following = offset + len(chosen)
        return Page(items, len(visible), offset, following if following < len(visible) else None)

    def dataset(self, principal: Principal, name: str) -> DatasetInfo:
        """One dataset's schema (with each column's classification), owner, freshness and size."""
        visible = self._visible(principal)
        if name not in visible:
            raise _no_dataset(name, visible)
        return self._describe(
            name,
            load_models(self.files.root, self.files.state_dir / "cache" / "models.json"),
            detailed=True,
        )

    def lineage(self, principal: Principal, name: str) -> dict[str, object]:
        """Upstream and downstream of a dataset (or column), leaving out what the role cannot see."""
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

    def _visible(self, principal: Principal) -> list[str]:
        available = [f"{layer}.{name}" for layer, name in self.lake.tables()]
        return sorted(self.policy.datasets(principal.role, available))

    def _describe(self, name: str, models: Mapping[str, Model], detailed: bool) -> DatasetInfo:
        layer, _, table = name.partition(".")
        owner, description, column_notes = self._definition(layer, table, models)
        if not detailed:
            return DatasetInfo(name, layer, owner, description)
        classes = self.policy.classification(name)
        columns = tuple(
            ColumnInfo(
                field.name,
                str(field.type),
                classes.get(field.name),
                column_notes.get(field.name, ""),
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
