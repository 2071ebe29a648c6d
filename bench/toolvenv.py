"""The peers' virtual environments and the timing of a command in a new process.

The tools weir is compared with (dbt-duckdb, SQLMesh, dlt, pandera, Great
Expectations) and the chart's matplotlib are not weir's dependencies: each
group is installed, at the versions pinned here, into its own virtual
environment under ``bench/.work`` (created once, kept between runs) and run
through that environment's executables, so nothing of theirs reaches weir's
``.venv``. Great Expectations and pandera get an environment of their own:
their pins of pandas and numpy need not agree with dbt's or dlt's.

Every version was checked to install from PyPI here (``pip index versions …``).
dbt-core is pinned below 1.12: 1.12.x needs dbt-core-experimental-parser,
whose sdist downloads its wheel from GitHub while building (it fails where
GitHub is out of reach, as here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

TIMEOUT = 1800.0


@dataclass(frozen=True)
class Pins:
    """One virtual environment: per tool, the requirements it installs and what proves it is there."""

    venv: str  # folder under the work folder
    tools: dict[str, list[str]]  # tool → pinned requirements
    probes: dict[str, str]  # tool → an executable in bin/ or a module to import
    shown: tuple[str, ...]  # distributions whose versions are reported


DBT_SQLMESH = Pins(
    "tools-venv",
    {
        "dbt": ["dbt-duckdb==1.11.1", "dbt-core==1.11.16"],
        "sqlmesh": ["sqlmesh==0.236.4"],
        "matplotlib": ["matplotlib==3.11.2"],
    },
    {"dbt": "bin/dbt", "sqlmesh": "bin/sqlmesh", "matplotlib": "matplotlib"},
    ("dbt-core", "dbt-duckdb", "sqlmesh", "sqlglot", "duckdb", "matplotlib"),
)
DLT = Pins(
    "dlt-venv",
    {"dlt": ["dlt[duckdb]==1.31.0", "pyarrow==26.0.1", "pandas==2.3.3"]},
    {"dlt": "bin/dlt"},
    ("dlt", "duckdb", "pyarrow", "pandas"),
)
VALIDATORS = Pins(
    "validate-venv",
    {"pandera": ["pandera==0.35.0"], "great_expectations": ["great-expectations==1.24.1"]},
    {"pandera": "pandera", "great_expectations": "great_expectations"},
    ("pandera", "great-expectations", "pandas", "numpy", "pyarrow"),
)


@dataclass
class Timed:
    """A command's wall clock (None when it failed), its first error line and its output."""

    seconds: float | None
    error: str | None = None
    output: str = ""
    runs: list[float] = field(default_factory=list)
    peak_rss: int | None = None  # bytes, the process's high-water mark

    def shown(self) -> str:
        return f"{self.seconds:.2f}" if self.seconds is not None else "failed"


def first_error_line(text: str) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    found = next((line for line in lines if re.search(r"(^error\b|error:)", line, re.I)), None)
    line = found or (lines[-1] if lines else "no output")
    return line if len(line) <= 160 else line[:159] + "…"


def timed(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> Timed:
    """Run ``command`` in a new process; its wall clock, output and peak resident memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        except OSError as exc:
            return Timed(None, str(exc).splitlines()[0])
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                return Timed(None, f"timed out after {timeout:.0f} s")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    peak = usage.ru_maxrss * 1024  # kilobytes on Linux
    if process.returncode != 0:
        return Timed(None, first_error_line(stderr + "\n" + stdout), stdout, peak_rss=peak)
    return Timed(seconds, None, stdout, peak_rss=peak)


def tool_env(root: Path) -> dict[str, str]:
    """The environment every peer runs in: its own venv, no telemetry, no colour, UTC days."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": str(root),
            "DO_NOT_TRACK": "1",
            "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "true",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "GX_ANALYTICS_ENABLED": "false",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "TZ": "UTC",
        }
    )
    return env


@dataclass(frozen=True)
class Venv:
    """A peers' environment as made: where it is, the versions in it, the tools that failed."""

    path: Path
    versions: dict[str, str]
    errors: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    def described(self, names: tuple[str, ...]) -> str:
        return ", ".join(f"{n} {self.versions[n]}" for n in names if n in self.versions)


def tools_venv(work: Path, pins: Pins, console: Console) -> Venv:
    """``pins``' environment under ``work``, created and filled once; failures per tool."""
    venv = work / pins.venv
    python = venv / "bin" / "python"
    if not python.exists():
        console.print(f"creating {venv} …")
        made = timed([sys.executable, "-m", "venv", "--clear", str(venv)], work)
        if made.error:
            return Venv(venv, {}, {t: f"python -m venv failed: {made.error}" for t in pins.tools})
    versions = installed_versions(venv, pins)
    wanted = [
        tool
        for tool, requirements in pins.tools.items()
        if not _present(venv, pins.probes[tool])
        or any(
            versions.get(_name(r)) != r.split("==")[1] for r in requirements if _name(r) in versions
        )
    ]
    errors: dict[str, str] = {}
    if wanted:
        every = [r for tool in wanted for r in pins.tools[tool]]
        console.print(f"installing {', '.join(every)} into {venv} …")
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        together = timed(pip + every, work)
        if together.error:  # one at a time, so one failure leaves the others
            for tool in wanted:
                alone = timed(pip + pins.tools[tool], work)
                if alone.error:
                    errors[tool] = f"pip install failed: {alone.error}"
        versions = installed_versions(venv, pins)
    for tool, probe in pins.probes.items():
        if tool not in errors and not _present(venv, probe):
            errors[tool] = f"{probe} is not in {venv}"
    return Venv(venv, versions, errors)


def _name(requirement: str) -> str:
    return requirement.split("==")[0].split("[")[0]


def _present(venv: Path, probe: str) -> bool:
    if "/" in probe:
        return (venv / probe).exists()
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            f"import importlib.util as u; print(u.find_spec({probe!r}) is not None)",
        ],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() == "True"


def installed_versions(venv: Path, pins: Pins) -> dict[str, str]:
    """The versions of ``pins``' distributions installed in ``venv`` (none if it is not there)."""
    python = venv / "bin" / "python"
    if not python.exists():
        return {}
    names = sorted({*pins.shown, *(_name(r) for rs in pins.tools.values() for r in rs)})
    script = (
        "import importlib.metadata as m\n"
        f"for n in {names!r}:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
