"""A/B tests of user flows: the experiments a project declares, and each variant against control.

An experiment is declared in ``experiments/<name>.yml`` (docs/kpis.md,
"Experiments"): its variants (one of them ``control``), the minimum effect
worth detecting, and optionally the days it ran. Web events name the
experiment and variant a session saw; the models turn them into one row per
exposed session (``marts.experiment_sessions``), and a KPI marked
``versus_control`` (``experiment_conversion``) counts sessions and
conversions per variant with the KPI query every KPI uses.

What SQL cannot say well is added here, on the KPI's answer: each variant's
lift over the control of the same period (and device type), the 95 %
interval of the difference (Newcombe), the p-value of the z-test, and the
sessions per variant needed to detect the declared effect
(``proportions.py``). The answer of one experiment over its whole run
(``experiment_report``) sums the per-period counts first: counts add up,
rates do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from weir.errors import UnknownName
from weir.metrics.definitions import VERSUS_CONTROL_COUNTS
from weir.metrics.proportions import newcombe, sessions_needed, z_test
from weir.project.base import FieldProblem, Name, Strict
from weir.project.config import Team
from weir.project.loader import load_named

EXPERIMENTS_DIR = "experiments"
CONTROL = "control"
EXPERIMENT_KPI = "experiment_conversion"
ALPHA = 0.05  # the tests' level: two-sided, 95 % intervals
POWER = 0.8  # the chance of detecting the declared effect, when it is real
# the figures a versus_control KPI must have, as its secondary figures
COUNTS = VERSUS_CONTROL_COUNTS
STATISTICS: tuple[tuple[str, pa.DataType], ...] = (
    ("lift", pa.float64()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("p_value", pa.float64()),
    ("required_sessions", pa.int64()),
)


# what compare=previous_period adds to an answer: figures, not part of a group's key
_PREVIOUS = ("previous_value", "change", "change_pct")


class Experiment(Strict):
    """One A/B test: ``experiments/<name>.yml``."""

    name: Name
    description: str = ""
    owner: Team = "marketing"
    variants: list[Name] = Field(
        min_length=2, description=f"the variants shown, one of them '{CONTROL}'"
    )
    minimum_detectable_effect: float = Field(
        gt=0, description="the smallest change of the conversion rate worth detecting"
    )
    effect: Literal["relative", "absolute"] = Field(
        default="relative",
        description="relative: a share of the control's rate (0.1 = +10 %); "
        "absolute: percentage points as a fraction (0.01 = +1 point)",
    )
    start: date | None = Field(default=None, description="the first day it ran")
    end: date | None = Field(default=None, description="the last day it ran (inclusive)")
    kpi: str = Field(default=EXPERIMENT_KPI, description="the versus_control KPI that counts it")

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if CONTROL not in self.variants:
            raise FieldProblem(
                "variants",
                f"the variants have no '{CONTROL}'",
                f"name the variant the others are compared with '{CONTROL}'",
            )
        if len(set(self.variants)) != len(self.variants):
            raise FieldProblem("variants", "a variant is listed twice", "list each once")
        if self.start and self.end and self.end < self.start:
            raise FieldProblem("end", f"end {self.end} is before start {self.start}", "swap them")
        return self

    def target(self, control_rate: float) -> float:
        """The rate the declared effect would lift ``control_rate`` to."""
        if self.effect == "absolute":
            return control_rate + self.minimum_detectable_effect
        return control_rate * (1 + self.minimum_detectable_effect)


def load_experiments(root: Path) -> dict[str, Experiment]:
    """Every experiment declared under ``experiments/``, by name."""
    return load_named(root, EXPERIMENTS_DIR, Experiment, "experiment")


def declared(experiments: Mapping[str, Experiment], name: str) -> Experiment:
    """The experiment ``name``, or a not-found error naming the closest one."""
    try:
        return experiments[name]
    except KeyError:
        fix = f"declare it in {EXPERIMENTS_DIR}/{name}.yml (see docs/kpis.md, Experiments)"
        raise UnknownName.among("experiment", name, experiments, fix) from None


def against_control(table: pa.Table, experiments: Mapping[str, Experiment]) -> pa.Table:
    """A versus_control KPI's answer with each variant set against its group's control.

    A group is one period, experiment and value of every other dimension. The
    sessions left out of an experiment (exposed to two of its variants) come
    from the query as a row without a variant; here they become the
    ``excluded_sessions`` of every variant row of their group. The control's
    own row has no lift, interval or p-value; ``required_sessions`` is the
    group's, from the control's rate and the experiment's declared effect.
    """
    names = table.column_names
    keys = [n for n in names if n not in ("value", *COUNTS, "variant", *_PREVIOUS)]
    rows = table.to_pylist()
    excluded: dict[tuple[Any, ...], int] = {}
    control: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        if row["variant"] is None:
            excluded[key] = excluded.get(key, 0) + _count(row.get("excluded_sessions"))
        elif row["variant"] == CONTROL:
            control[key] = row
    out: list[dict[str, Any]] = []
    for row in rows:
        key = tuple(row[k] for k in keys)
        if row["variant"] is None and row["experiment"] is not None:
            continue  # the left-out sessions, folded into their group's rows
        shaped = dict(row)
        shaped["excluded_sessions"] = excluded.get(key, 0) if row["experiment"] else 0
        shaped.update(_statistics(row, control.get(key), experiments.get(row["experiment"] or "")))
        out.append(shaped)
    fields = [table.schema.field(n) for n in names if n != "excluded_sessions"]
    fields.append(pa.field("excluded_sessions", pa.int64()))
    schema = pa.schema([*fields, *(pa.field(n, t) for n, t in STATISTICS)])
    return pa.Table.from_pylist(
        [{f.name: _cast(r.get(f.name), f.type) for f in schema} for r in out], schema
    )


def experiment_report(
    table: pa.Table,
    experiment: Experiment,
    first_day: date | None,
    dimensions: Sequence[str] = (),
) -> pa.Table:
    """One experiment over the whole range asked: one row per variant (and dimension values).

    ``table`` is the versus_control KPI's answer before ``against_control``, by
    any period. Counts are summed over the periods, the rate is worked out
    again from them, then the variants are set against control. ``period`` is
    ``first_day`` (or the first period with sessions). A declared variant no
    session saw is a row of zeros with a null rate.
    """
    mine = [r for r in table.to_pylist() if r["experiment"] == experiment.name]
    start = first_day or min((r["period"] for r in mine), default=None)
    summed: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in mine:
        key = (row["variant"], *(row[d] for d in dimensions))
        into = summed.setdefault(
            key,
            {
                "variant": row["variant"],
                **{d: row[d] for d in dimensions},
                **dict.fromkeys(COUNTS, 0),
            },
        )
        for count in COUNTS:
            into[count] += _count(row.get(count))
    groups = sorted({k[1:] for k in summed}, key=_sortable) or [(None,) * len(dimensions)]
    for group in groups:
        for variant in experiment.variants:
            if (variant, *group) not in summed:
                summed[(variant, *group)] = {
                    "variant": variant,
                    **dict(zip(dimensions, group, strict=True)),
                    **dict.fromkeys(COUNTS, 0),
                }
    order = {v: i for i, v in enumerate(experiment.variants)}
    rows = []
    for key in sorted(
        summed, key=lambda k: (_sortable(k[1:]), order.get(k[0], len(order)), str(k[0]))
    ):
        row = summed[key]
        sessions = row["sessions"]
        rows.append(
            {
                "period": start,
                "experiment": experiment.name,
                **row,
                "value": row["conversions"] / sessions if sessions else None,
            }
        )
    columns = ["period", "experiment", "variant", *dimensions, "value", *COUNTS]
    schema = pa.schema(
        [
            pa.field("period", pa.date32()),
            pa.field("experiment", pa.string()),
            pa.field("variant", pa.string()),
            *(table.schema.field(d) for d in dimensions),
            pa.field("value", pa.float64()),
            *(pa.field(c, pa.int64()) for c in COUNTS),
        ]
    )
    shaped = pa.Table.from_pylist([{c: r[c] for c in columns} for r in rows], schema)
    return against_control(shaped, {experiment.name: experiment})


def _statistics(
    row: Mapping[str, Any], control: Mapping[str, Any] | None, experiment: Experiment | None
) -> dict[str, Any]:
    none: dict[str, Any] = dict.fromkeys(n for n, _ in STATISTICS)
    if row["variant"] is None or control is None:
        return none
    n, x = _count(row.get("sessions")), _count(row.get("conversions"))
    nc, xc = _count(control.get("sessions")), _count(control.get("conversions"))
    found = dict(none)
    if nc and experiment is not None:
        found["required_sessions"] = sessions_needed(
            xc / nc, experiment.target(xc / nc), ALPHA, POWER
        )
    if row["variant"] == CONTROL or not n or not nc:
        return found
    p, pc = x / n, xc / nc
    found["lift"] = (p - pc) / pc if pc else None
    interval = newcombe(x, n, xc, nc, 1 - ALPHA)
    found["ci_low"], found["ci_high"] = interval if interval else (None, None)
    found["p_value"] = z_test(x, n, xc, nc)
    return found


def _count(value: Any) -> int:
    return int(value) if value is not None else 0


def _cast(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_integer(kind):
        return int(value)
    if pa.types.is_floating(kind):
        return float(value)
    return value


def _sortable(values: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in values)
