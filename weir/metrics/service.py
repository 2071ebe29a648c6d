"""The KPI service of an opened project: the definitions, answers from the marts, flagged days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Unpack

import pyarrow as pa

from weir.lake import Lake, LakeViews, Pin
from weir.metadata import MetadataStore
from weir.metrics.definitions import Catalogue, Figure, KpiDefinition, load_catalogue
from weir.metrics.flags import DayFlags
from weir.metrics.query import KpiOptions, KpiQuestion, answer, ask
from weir.project import ProjectFiles


class Kpis:
    """The project's KPIs, answered as the marts are now (or were at ``as_of``)."""

    def __init__(self, files: ProjectFiles, lake: Lake, store: MetadataStore) -> None:
        self.files = files
        self.lake = lake
        self.flags = DayFlags(store)

    def catalogue(self) -> Catalogue:
        return load_catalogue(self.files.root)

    def definitions(self) -> list[KpiDefinition]:
        """Every KPI, by team and name."""
        return sorted(self.catalogue().kpis.values(), key=lambda k: (k.team, k.name))

    def question(
        self,
        kpi: str | KpiDefinition,
        grain: str = "day",
        by: Sequence[str] = (),
        **options: Unpack[KpiOptions],
    ) -> KpiQuestion:
        """The question these options ask of a KPI (by name, or its definition already loaded).

        Each part is checked: an unknown KPI, grain, dimension or comparison, a range too long.
        """
        definition = self.catalogue().get(kpi) if isinstance(kpi, str) else kpi
        flagged = self.flagged_days(definition.name) if options.get("exclude_flagged") else None
        return ask(
            definition,
            grain,
            by,
            options.get("start"),
            options.get("end"),
            options.get("compare"),
            flagged,
        )

    def answer(
        self, name: str, grain: str = "day", by: Sequence[str] = (), **options: Unpack[KpiOptions]
    ) -> pa.Table:
        """One KPI by period (and dimensions), from the marts (as they were at ``as_of``)."""
        question = self.question(name, grain, by, **options)
        views = LakeViews(self.lake)
        session, _ = views.session(marts_of(question.kpi), Pin.at(options.get("as_of")))
        try:
            return answer(session, question)
        finally:
            session.close()
            views.close()

    def flagged_days(self, kpi: str | None = None) -> list[date]:
        """The days flagged for ``kpi`` or for every KPI (without ``kpi``: every flagged day)."""
        return self.flags.days_for(kpi)

    def flag_day(self, day: date, dataset: str, reason: str) -> None:
        """Mark a day's KPI inputs as failing a quality check (KPIs can leave it out)."""
        self.flags.flag(day, dataset, reason)


def marts_of(kpi: KpiDefinition) -> list[str]:
    """The marts a KPI reads: its own and those of its figures from other marts."""
    figures = [f.mart for f in kpi.secondary.values() if isinstance(f, Figure)]
    return sorted({kpi.mart, *figures})
