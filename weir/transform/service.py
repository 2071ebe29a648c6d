"""The models service of an opened project: plan, run and trace the models.

A run leaves one ``run`` audit record saying what it built, or why it failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Unpack, cast

from weir.engine import Engine
from weir.lake import LAYERS, Lake
from weir.metadata import MetadataStore
from weir.metadata.audit import AuditLog
from weir.metadata.definition import operator
from weir.project import ProjectFiles
from weir.transform.dag import ModelGraph
from weir.transform.kinds import describe_audit
from weir.transform.lineage import dataset_lineage, lineage_edges
from weir.transform.model import Model, ParsedFiles, load_models
from weir.transform.runner import PlannedBuild, Progress, Runner, RunResult, Window
from weir.transform.state import RunLog


@dataclass(frozen=True)
class AuditResult:
    """A model's audits and how its newest build fared against them."""

    model: str
    audits: tuple[str, ...]  # what each audit checks, e.g. "not_null: [store_id]"
    status: str | None  # of its newest build that ran: built or failed; None: never built
    run_id: str | None
    rows: int | None
    error: str | None  # a failed audit (or build) says what failed, never the rows


class Models:
    """The project's models: their graph, what a run would build, runs, lineage."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        store: MetadataStore,
        audit: AuditLog,
        progress: Progress | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.files = files
        self.lake = lake
        self.engine = engine or lake.engine  # the engine that builds the models
        self.log = RunLog(store)
        self.audit = audit
        self.progress = progress
        self._parsed: ParsedFiles = {}  # each model file as last parsed, by its mtime and size

    def graph(self) -> ModelGraph:
        tables = frozenset(f"{layer}.{name}" for layer, name in self.lake.tables())
        ingested = frozenset(f"{layer}.{name}" for layer in LAYERS for name in self.files.sources)
        return ModelGraph(self.definitions(), tables | ingested)

    def definitions(self) -> dict[str, Model]:
        """The models by name, as their files say now (a file is parsed again when it changed)."""
        cache = self.files.state_dir / "cache" / "models.json"
        return load_models(self.files.root, cache, self._parsed)

    def runner(self) -> Runner:
        return Runner(self.graph(), self.lake, self.log, self.progress, self.engine)

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

    def audit_results(self) -> list[AuditResult]:
        """Each model, by name: its audits and its newest build's outcome."""
        newest: dict[str, dict[str, object]] = {}
        for build in self.log.builds(limit=10_000):  # newest run first
            if build["status"] in ("built", "failed"):  # the builds its audits ran on
                newest.setdefault(str(build["model"]), build)
        results = []
        for name, model in sorted(self.graph().models.items()):
            build = newest.get(name, {})
            rows = build.get("row_count")
            results.append(
                AuditResult(
                    name,
                    tuple(describe_audit(a) for a in model.header.audits),
                    cast(str | None, build.get("status")),
                    cast(str | None, build.get("run_id")),
                    int(cast(int, rows)) if rows is not None else None,
                    cast(str | None, build.get("error")),
                )
            )
        return results

    def lineage(self, dataset: str) -> dict[str, object]:
        """Upstream and downstream datasets of ``dataset`` (``namespace.table[.column]``)."""
        return dataset_lineage(self.graph(), self.log.lineage(), dataset)

    def lineage_edges(self, dataset: str) -> tuple[str, list[tuple[str, str]]]:
        """The direct edges (read → written) around ``dataset`` (``namespace.table[.column]``)."""
        return lineage_edges(self.graph(), self.log.lineage(), dataset)
