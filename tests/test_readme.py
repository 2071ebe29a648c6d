"""The README's tour runs as written (on a small demo project)."""

from __future__ import annotations

import os
import re
import socket
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
    [tour] = [b for b in _blocks("sh") if "cd demo-project" in b and "weir serve" not in b]
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


def test_the_serving_example_runs(workspace: Path) -> None:
    [example] = [b for b in _blocks("sh") if "weir serve" in b]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    weir_command = str(Path(sys.executable).parent / "weir")
    script = "set -euo pipefail\n" + example.replace("../.venv/bin/weir", weir_command).replace(
        "8080", str(port)
    ).replace(
        "sleep 4",
        f"for i in $(seq 100); do curl -sf http://127.0.0.1:{port}/healthz >/dev/null && break; sleep 0.2; done",
    )
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"value"' in out and '"North"' in out  # the KPI and the query, filtered to North
    assert '"South"' not in out
    assert "pii_" in out  # the analyst sees e-mail addresses masked
    assert "the audit log is intact" in out
