"""The models service of an opened project: plan, run and trace the models.

A run leaves one ``run`` audit record saying what it built, or why it failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from weir.lake import LAYERS, Lake
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metadata.definition import operator
from weir.project import ProjectFiles
from weir.transform.dag import ModelGraph
from weir.transform.lineage import dataset_lineage
from weir.transform.model import load_models
from weir.transform.runner import PlannedBuild, Progress, Runner, RunResult, Window
from weir.transform.state import RunLog


class Models:
    """The project's models: their graph, what a run would build, runs, lineage."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        store: MetadataStore,
        audit: AuditLog,
        progress: Progress | None = None,
    ) -> None:
        self.files = files
        self.lake = lake
        self.log = RunLog(store)
        self.audit = audit
        self.progress = progress

    def graph(self) -> ModelGraph:
        tables = frozenset(f"{layer}.{name}" for layer, name in self.lake.tables())
        ingested = frozenset(f"{layer}.{name}" for layer in LAYERS for name in self.files.sources)
        cache = self.files.state_dir / "cache" / "models.json"
        return ModelGraph(load_models(self.files.root, cache), tables | ingested)

    def runner(self) -> Runner:
        return Runner(self.graph(), self.lake, self.log, self.progress)

    def plan(
        self, select: Sequence[str] | None = None, **window: Unpack[Window]
    ) -> list[PlannedBuild]:
        """What ``run`` would build, and why, without building."""
        return self.runner().plan(select, **window)

    def run(self, select: Sequence[str] | None = None, **window: Unpack[Window]) -> RunResult:
        """Build the models that changed or are due (and those ``select`` names)."""
        start, end = window.get("start"), window.get("end")
        parts = ["run", *(select or ["(all)"])]
        parts += ["--full-refresh"] if window.get("full_refresh") else []
        parts += [f"--start {start}"] if start else []
        parts += [f"--end {end}"] if end else []
        with self.audit.recording("run", " ".join(parts), operator()) as note:
            result = self.runner().run(select, **window)
            built = [b for b in result.builds if b.status == "built"]
            failed = [b.model for b in result.builds if b.status == "failed"]
            note.datasets = tuple(b.model for b in built)
            note.rows = sum(b.rows or 0 for b in built)
            note.reason = f"failed: {', '.join(failed)}" if failed else None
            note.detail = {"run_id": result.run_id, "builds": len(result.builds)}
        return result

    def lineage(self, dataset: str) -> dict[str, object]:
        """Upstream and downstream datasets of ``dataset`` (``namespace.table[.column]``)."""
        return dataset_lineage(self.graph(), self.log.lineage(), dataset)
