"""Checks of ``schedules:`` that need the rest of the project: its sources, models, time zone.

Run when the project opens, so a schedule naming a source or model that does
not exist fails at once, with ``weir.yml``'s line and a fix, not at 06:00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from weir.errors import ProjectError, UnknownName
from weir.project import ProjectFiles
from weir.project.loader import where_in_config
from weir.transform.model import MODELS_DIR


def project_zone(files: ProjectFiles) -> ZoneInfo:
    """The project's time zone (``timezone`` in weir.yml), in which cron lines are read."""
    try:
        return ZoneInfo(files.config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        where = where_in_config(files.root, ("timezone",))
        raise ProjectError(
            f"{where}: timezone: '{files.config.timezone}' is not a time zone",
            "write an IANA name, e.g. Europe/Berlin or UTC",
        ) from None


def model_names(root: Path) -> list[str]:
    """The project's model names (``folder.file`` under models/), without parsing their SQL."""
    return sorted(f"{p.parent.name}.{p.stem}" for p in (root / MODELS_DIR).glob("*/*.sql"))


def check_schedules(files: ProjectFiles, models: Callable[[], Iterable[str]]) -> None:
    """Every source a schedule names exists, and every selection names a model."""
    known: set[str] | None = None
    for i, schedule in enumerate(files.config.schedules):
        for field in ("sources", "after"):
            for j, name in enumerate(getattr(schedule, field)):
                if name not in files.sources:
                    _fail(files, ("schedules", i, field, j), "source", name, files.sources)
        for j, selector in enumerate(schedule.select or []):
            if known is None:
                known = set(models())
            name = selector.strip("+")
            if name not in known:
                _fail(files, ("schedules", i, "select", j), "model", name, known)


def _fail(
    files: ProjectFiles, loc: tuple[Any, ...], kind: str, name: str, known: Iterable[str]
) -> None:
    where = where_in_config(files.root, loc)
    found = UnknownName.among(kind, name, known, f"see the {kind}s of the project", quoted=True)
    field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
    raise ProjectError(f"{where}: {field}: {found.what}", found.fix)
