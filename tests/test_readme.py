"""The README's tour runs as written (on a small demo project)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from weir.demo.tour import run_demo

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    run_demo(folder / "demo-project", days=2, scale=0.05, seed=5)
    return folder


def test_the_tour_commands_run(workspace: Path) -> None:
    [tour] = [b for b in _blocks("sh") if "cd demo-project" in b]
    weir_command = str(Path(sys.executable).parent / "weir")
    script = "set -euo pipefail\n" + tour.replace("../.venv/bin/weir", weir_command)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stderr
    assert "net_sales" in done.stdout and "pos" in done.stdout


def test_the_python_example_runs(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [example] = [b for b in _blocks("python") if "import weir" in b]
    monkeypatch.chdir(workspace)
    namespace: dict[str, object] = {}
    exec(compile(example, str(README), "exec"), namespace)
    assert namespace["sales"].num_rows > 0  # type: ignore[attr-defined]
