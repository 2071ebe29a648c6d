"""The KPI service of an opened project: the definitions, answers from the marts, flagged days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Unpack

import pyarrow as pa

from weir.errors import ProjectError
from weir.lake import Lake, LakeViews, Pin
from weir.metadata import MetadataStore
from weir.metrics.definitions import Catalogue, Figure, KpiDefinition, load_catalogue
from weir.metrics.experiments import (
    EXPERIMENT_KPI,
    Experiment,
    against_control,
    declared,
    experiment_report,
    load_experiments,
)
from weir.metrics.flags import DayFlags
from weir.metrics.query import MAX_PERIODS, KpiOptions, KpiQuestion, answer, ask
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
        compare = options.get("compare")
        if definition.versus_control:
            # an A/B KPI is always by experiment and variant, and each variant is compared with
            # its control, not with the previous period (a dashboard's comparison passes it by)
            by = ["experiment", "variant", *(d for d in by if d not in ("experiment", "variant"))]
            compare = None
        return ask(
            definition,
            grain,
            by,
            options.get("start"),
            options.get("end"),
            compare,
            flagged,
        )

    def answer(
        self, name: str, grain: str = "day", by: Sequence[str] = (), **options: Unpack[KpiOptions]
    ) -> pa.Table:
        """One KPI by period (and dimensions), from the marts (as they were at ``as_of``)."""
        question = self.question(name, grain, by, **options)
        return self.finish(question.kpi, self._answer(question, options.get("as_of")))

    def _answer(self, question: KpiQuestion, as_of: datetime | str | None) -> pa.Table:
        views = LakeViews(self.lake)
        session, _ = views.session(marts_of(question.kpi), Pin.at(as_of))
        try:
            return answer(session, question)
        finally:
            session.close()
            views.close()

    def finish(self, kpi: KpiDefinition, table: pa.Table) -> pa.Table:
        """What a KPI adds to its query's answer: an A/B KPI's statistics against control."""
        if not kpi.versus_control:
            return table
        return against_control(table, self.experiments())

    # -- A/B tests ---------------------------------------------------------------------------
    def experiments(self) -> dict[str, Experiment]:
        """The experiments declared in ``experiments/*.yml``, by name."""
        return load_experiments(self.files.root)

    def experiment_question(
        self,
        name: str,
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
    ) -> tuple[Experiment, KpiQuestion]:
        """The experiment ``name`` and the question that counts its variants over its run.

        The range is ``start``..``end``, or the experiment's declared days. The
        counts are asked by day and summed over the range; the first day with
        sessions starts an open range.
        """
        experiment = declared(self.experiments(), name)
        definition = self.catalogue().get(experiment.kpi)
        if not definition.versus_control:
            raise ProjectError(
                f"experiment {name} is counted by KPI {definition.name}, "
                "which is not marked versus_control",
                f"name a versus_control KPI in experiments/{name}.yml (kpi: {EXPERIMENT_KPI})",
            )
        first, last = start or experiment.start, end or experiment.end
        # by day, but a range of more days than an answer holds periods is asked by month
        long = first is not None and last is not None and (last - first).days >= MAX_PERIODS
        question = self.question(definition, "month" if long else "day", by, start=first, end=last)
        return experiment, question

    def experiment(
        self,
        name: str,
        by: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        as_of: datetime | str | None = None,
    ) -> pa.Table:
        """One experiment over its run: per variant (and ``by``), each against control."""
        experiment, question = self.experiment_question(name, by, start, end)
        table = self._answer(question, as_of)
        return experiment_report(table, experiment, question.start, question.by[2:])

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
