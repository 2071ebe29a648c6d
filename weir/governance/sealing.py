"""Personal data sealed in the models' tables too: the lake's ``Sealing`` of a whole project.

The source layers are ingestion's (``weir.ingest.sealing``). A model's table
is sealed where column lineage says so: its columns classified ``pii`` (by
lineage from the sources' contracts, as the masks see them) are sealed under
the key of the subject whose identifier another of its columns carries (by
lineage from a source's identifier column). A model without such a column
names no subject, and is written as it is computed. Only text columns are
sealed (a number keeps its type).

The plan of a table is worked out as it is written (from the lineage the
build writing it passes along) and, for reading, from the lineage the last
builds recorded, again after ``PLAN_TTL`` seconds (another process's build
may have changed it). A column sealed once and no longer is still opened
where an older file holds a token (a value that is not one opens as itself).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from weir.engine import Session, ident, lit
from weir.governance.policy import Policy
from weir.governance.subjects import reaches
from weir.ingest.sealing import OPEN_FUNCTION, SEAL_FUNCTION, SealPlan, SourceSealing
from weir.lake import LAYERS, Lake
from weir.project import ProjectFiles
from weir.transform.service import Models

_TEXT = ("VARCHAR",)
PLAN_TTL = 30.0  # seconds a plan worked out for reading is used (a build elsewhere may change it)


class ProjectSealing:
    """Seals a project's personal data in every layer: its sources', then its models'."""

    def __init__(
        self,
        files: ProjectFiles,
        lake: Lake,
        sources: SourceSealing,
        models: Callable[[], Models],
    ) -> None:
        self.files = files
        self.lake = lake
        self.sources = sources
        self._models = models
        self._plans: dict[tuple[str, str], tuple[SealPlan | None, float]] = {}
        self._lock = threading.Lock()

    def seal(
        self,
        session: Session,
        layer: str,
        name: str,
        select: str,
        lineage: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        if layer in LAYERS:
            return self.sources.seal(session, layer, name, select)
        types = dict(session.columns(select))
        plan = self._model_plan(layer, name, types, lineage)
        with self._lock:
            self._plans[(layer, name)] = (plan, time.monotonic())
        if plan is None:
            return select
        session.add_function(SEAL_FUNCTION, self.sources.seal_values, 3)
        subject = f"CAST({ident(plan.subject)} AS VARCHAR)"
        replaced = ", ".join(
            f"{SEAL_FUNCTION}({lit(plan.kind)}, {subject}, {ident(c)}) AS {ident(c)}"
            for c in plan.columns
        )
        return f"SELECT * REPLACE ({replaced}) FROM ({select})"

    def opened(self, session: Session, layer: str, name: str) -> Mapping[str, str]:
        if layer in LAYERS:
            return self.sources.opened(session, layer, name)
        with self._lock:
            known = self._plans.get((layer, name))
        plan = known[0] if known is not None else None
        if known is None or time.monotonic() - known[1] > PLAN_TTL:
            schema = self.lake.arrow_schema(layer, name)
            types = {
                f.name: "VARCHAR" if str(f.type) in ("string", "large_string") else str(f.type)
                for f in schema
            }
            plan = self._model_plan(layer, name, types, None)
            with self._lock:
                self._plans[(layer, name)] = (plan, time.monotonic())
        if plan is None:
            return {}
        session.add_function(OPEN_FUNCTION, self.sources.cipher.open, 1)
        return {c: f"{OPEN_FUNCTION}({ident(c)})" for c in plan.columns}

    def _model_plan(
        self,
        layer: str,
        name: str,
        types: Mapping[str, str],
        fresh: Mapping[str, Sequence[str]] | None,
    ) -> SealPlan | None:
        privacy = self.files.config.privacy
        if not privacy.encrypt_pii or not privacy.subjects:
            return None
        dataset = f"{layer}.{name}"
        models = self._models()
        lineage = {k: dict(v) for k, v in models.log.lineage().items()}
        if fresh:  # the build writing the table knows its lineage before the log does
            lineage[dataset] = {column: list(read) for column, read in fresh.items()}
        for kind, subject in privacy.subjects.items():
            roots = {
                f"{source_layer}.{s}.{c}"
                for s, c in subject.sources.items()
                for source_layer in ("raw", "staging")
            }
            ids = [c for c in types if reaches(lineage, dataset, c, roots)]
            if not ids:
                continue
            policy = Policy(self.files, lineage, {dataset: list(types)})
            sealed = tuple(
                c
                for c, k in policy.classification(dataset).items()
                if k == "pii" and c not in ids and types.get(c, "").upper() in _TEXT
            )
            return SealPlan(kind, ids[0], sealed) if sealed else None
        return None
