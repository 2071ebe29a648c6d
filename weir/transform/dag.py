"""The model graph: build order and selections (``model+``, ``+model``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from weir.errors import ProjectError, UnknownName
from weir.transform.model import Model


@dataclass(frozen=True)
class ModelGraph:
    models: dict[str, Model]
    lake_tables: frozenset[str]  # namespace.table that ingestion provides

    def __post_init__(self) -> None:
        for model in self.models.values():
            for name in model.depends_on:
                if name not in self.models and name not in self.lake_tables:
                    close = difflib.get_close_matches(name, [*self.models, *self.lake_tables], n=1)
                    hint = (
                        f"did you mean {close[0]}?"
                        if close
                        else "ingest the source or add the model"
                    )
                    raise ProjectError(
                        f"{model.path.name}: reads {name}, which is neither a model nor a lake table",
                        hint,
                    )

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """Models in build order (each after what it reads)."""
        wanted = set(self.models if names is None else names)
        sorter: TopologicalSorter[str] = TopologicalSorter()
        for name in wanted:
            sorter.add(name, *(d for d in self.models[name].depends_on if d in self.models))
        try:
            ordered = list(sorter.static_order())
        except CycleError as exc:
            cycle = " → ".join(exc.args[1]) if len(exc.args) > 1 else "?"
            raise ProjectError(
                f"the models read each other in a cycle: {cycle}", "break the cycle"
            ) from None
        return [name for name in ordered if name in wanted]

    def upstream(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [name]
        while stack:
            for dep in self.models[stack.pop()].depends_on:
                if dep in self.models and dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return seen

    def downstream(self, name: str) -> set[str]:
        children: dict[str, set[str]] = {n: set() for n in self.models}
        for model in self.models.values():
            for dep in model.depends_on:
                if dep in children:
                    children[dep].add(model.name)
        seen: set[str] = set()
        stack = [name]
        while stack:
            for child in children[stack.pop()]:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def select(self, selectors: Iterable[str] | None) -> list[str]:
        """``name`` alone, ``name+`` with what reads it, ``+name`` with what it reads."""
        chosen = list(selectors or [])
        if not chosen:
            return self.order()
        picked: set[str] = set()
        for selector in chosen:
            name = selector.strip("+")
            if name not in self.models:
                raise UnknownName.among("model", name, self.models, "see `weir plan`")
            picked.add(name)
            if selector.endswith("+"):
                picked |= self.downstream(name)
            if selector.startswith("+"):
                picked |= self.upstream(name)
        return self.order(picked)
