"""The quality detector, measured: a year of the reference retailer, its planted incidents found.

The generator plants known incidents and lists them in ``manifest.json``
under ``"incidents"`` (``tracker_outage``, ``missing_pos_file``,
``duplicate_burst``, ``stockout``: each with its day and source). One
``quality run`` judges every day of the year; each failing volume or KPI
check is then matched to the incidents:

- ``tracker_outage``: a drop of ``web_traffic``'s volume or of a marketing KPI that day;
- ``missing_pos_file``: a drop of ``pos``'s records or files, or of a sales or finance KPI;
- ``duplicate_burst``: a spike of the source's duplicates that day;
- ``stockout``: an operations KPI or stock availability off on the day or the day after.

Printed: recall (incidents found) and precision (checks of the kind's family
that point at one) per kind, the false flags per KPI per quarter (failing
KPI checks that match no incident), and the time of one full evaluation.
Targets: every planted incident found; at most one false flag per KPI per
quarter. When the manifest lists no incidents (a generator that does not
plant them), recall cannot be measured and every flag counts as false.
"""

from __future__ import annotations

import inspect
import json
import shutil
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import weir
from weir.demo.generate import generate
from weir.quality import Check

START = date(2025, 1, 1)
KINDS = ("tracker_outage", "missing_pos_file", "duplicate_burst", "stockout")


@dataclass(frozen=True)
class Incident:
    kind: str
    day: date
    source: str
    subject: str


def _project(
    work: Path, days: int, scale: float, console: Console, landing: Path | None = None
) -> Path:
    name = f"quality-{landing.name}" if landing else f"quality-{days}d-x{scale:g}"
    root = work / name
    if (root / ".built").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    if landing is not None:
        console.print(f"building the files generated in {landing}…")
        shutil.copytree(landing, root / "landing")
    else:
        console.print(f"generating and building {days} days of the retailer at scale {scale:g}…")
        options: dict[str, Any] = {"days": days, "scale": scale, "seed": 7}
        if "start" in inspect.signature(generate).parameters:
            options["start"] = START
        generate(root / "landing", **options)
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    (root / ".built").write_text("ok", encoding="utf-8")
    return root


def _incidents(root: Path) -> list[Incident] | None:
    manifest = json.loads((root / "landing" / "manifest.json").read_text(encoding="utf-8"))
    if "incidents" not in manifest:
        return None
    return [
        Incident(i["kind"], date.fromisoformat(i["day"]), i["source"], i.get("subject", ""))
        for i in manifest["incidents"]
    ]


def _family(kind: str, check: Check, teams: dict[str, str], incident: Incident | None) -> bool:
    """Whether ``check`` is one that could point at an incident of ``kind``."""
    source, _, series = check.subject.partition(":")
    team = teams.get(check.subject) if check.kind == "kpi_anomaly" else None
    if kind == "tracker_outage":
        return (check.kind == "volume" and source == "web_traffic" and series == "") or (
            team == "marketing"
        )
    if kind == "missing_pos_file":
        return (check.kind == "volume" and source == "pos" and series in ("", "files")) or (
            team in ("sales", "finance") and check.subject != "stock_availability"
        )
    if kind == "duplicate_burst":
        wanted = incident.source if incident else None
        return check.kind == "volume" and series == "duplicates" and source in (wanted, source)
    return team == "operations" or check.subject == "stock_availability"


def _matches(incident: Incident, check: Check, teams: dict[str, str]) -> bool:
    if check.day is None or not _family(incident.kind, check, teams, incident):
        return False
    if incident.kind == "duplicate_burst" and not check.subject.startswith(incident.source):
        return False
    days = (0, 1) if incident.kind == "stockout" else (0,)
    return any(check.day == incident.day + timedelta(d) for d in days)


def run_quality_bench(
    work: Path, days: int = 365, scale: float = 0.1, landing: Path | None = None
) -> None:
    """Measure on ``days`` generated at ``scale``, or on the files already generated in ``landing``."""
    console = Console(width=150)
    work.mkdir(parents=True, exist_ok=True)
    root = _project(work, days, scale, console, landing)
    incidents = _incidents(root)
    with weir.Project(root) as project:
        for flag in project.quality.flags():  # a fresh evaluation, not the last one's flags
            project.kpis.flags.unflag(flag.day)
        teams: dict[str, str] = {k.name: k.team for k in project.kpis.definitions() if not k.steps}
        started = time.perf_counter()
        checks = project.quality.run(since=date(2000, 1, 1))
        seconds = time.perf_counter() - started
        flagged = len(project.quality.flags())
    failing = [c for c in checks if c.state != "ok" and c.day is not None]
    truth = incidents or []
    shown = f"{landing}" if landing else f"{days} days at scale {scale:g}"
    table = Table(title=f"quality run over {shown}: planted incidents found")
    for column in ("kind", "planted", "found", "recall", "family checks failing", "precision"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in KINDS:
        planted = [i for i in truth if i.kind == kind]
        found = [i for i in planted if any(_matches(i, c, teams) for c in failing)]
        family = [c for c in failing if _family(kind, c, teams, None)]
        right = [c for c in family if any(_matches(i, c, teams) for i in planted)]
        table.add_row(
            kind,
            str(len(planted)),
            str(len(found)),
            f"{len(found) / len(planted):.0%}" if planted else "-",
            str(len(family)),
            f"{len(right) / len(family):.0%}" if family else "-",
        )
    console.print(table)
    judged_days = max(1, len({c.day for c in failing} | _judged_span(checks)))
    quarters = judged_days / 91
    false_kpi = Counter(
        c.subject
        for c in failing
        if c.kind == "kpi_anomaly" and not any(_matches(i, c, teams) for i in truth)
    )
    per_kpi = [false_kpi.get(name, 0) / quarters for name in teams]
    over = sorted(
        ((n / quarters, k) for k, n in false_kpi.items() if n / quarters > 1), reverse=True
    )
    summary = Table(title="false flags and time")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_column("target", justify="right")
    summary.add_row("KPIs judged", str(len(teams)), "")
    summary.add_row(
        "false KPI flags per KPI per quarter, mean", f"{statistics.mean(per_kpi):.2f}", ""
    )
    summary.add_row("false KPI flags per KPI per quarter, worst", f"{max(per_kpi):.2f}", "<= 1")
    summary.add_row("KPIs over one false flag a quarter", str(len(over)), "0")
    summary.add_row("days flagged (auto)", str(flagged), "")
    summary.add_row("checks recorded", f"{len(checks):,}", "")
    summary.add_row("one full evaluation (s)", f"{seconds:.1f}", "")
    console.print(summary)
    if over:
        console.print("over target: " + ", ".join(f"{k} {v:.1f}" for v, k in over[:10]))
    if incidents is None:
        console.print(
            "[yellow]manifest.json lists no incidents: this generator plants none, so recall"
            " cannot be measured and every flag above is counted as false[/]"
        )


def _judged_span(checks: list[Check]) -> set[date]:
    days = [c.day for c in checks if c.day is not None]
    if not days:
        return set()
    first, last = min(days), max(days)
    return {first + timedelta(d) for d in range((last - first).days + 1)}
