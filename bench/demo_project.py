"""A built demo project for the benchmarks: the reference retailer over some days, models run.

Built once per work folder and kept (a ``.built`` marker), so a second run of
a benchmark measures weir, not the generator.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from rich.console import Console

import weir
from weir.demo.generate import generate

START = "2025-01-01"


def built_project(root: Path, days: int, seed: int, console: Console, scale: float = 1.0) -> Path:
    if (root / ".built").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    weir.init_project(root)
    console.print(f"generating and building {days} days of the reference retailer at {scale}…")
    generate(root / "landing", days=days, scale=scale, seed=seed, start=date.fromisoformat(START))
    with weir.Project(root) as project:
        _, result = project.run()
        assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    (root / ".built").write_text("ok", encoding="utf-8")
    return root
