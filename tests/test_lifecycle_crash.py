"""A lifecycle run killed at any step is finished by the next one; nothing outside its rules is lost.

The shop of ``test_lifecycle`` (days 1 to 10, ``d`` sales on day ``d``, one bad
line) with two rules at once: staging keeps 5 days then archives, quarantine
keeps 5 days then is destroyed. A run is killed (``os._exit``, no clean-up, as
SIGKILL) right after each step in turn: the action journalled, the rewrite's
overwrite committed but not yet sealed, the archive written and verified, the
rows rewritten out, the snapshots expired, the destruction audited. Each next run resumes where the last one stopped. In the
end: staging holds exactly days 6 to 10, the one archive exactly days 1 to 5,
raw all 56 records, every batch reconciles, each destruction is audited once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import weir
from tests.test_lifecycle import GONE, KEPT, NOW, _count, _ids, _shop
from weir.lake.maintenance import Maintenance
from weir.lifecycle import verify_archive

RULES = (
    "retention:\n  sources:\n    pos:\n"
    "      staging: {keep: 5d, then: archive, age: event}\n"
    "      quarantine: {keep: 5d, then: destroy, age: event}\n"
)
SCRIPT = """
import sys, weir
from datetime import datetime
with weir.Project(sys.argv[1]) as project:
    project.lifecycle.run(now=datetime.fromisoformat(sys.argv[2]))
"""
STEPS = ("started", "seal", "archived", "rewritten", "expired", "audited")


def _run(root: Path, crash_at: str | None) -> int:
    """Run the lifecycle in a forked child (weir already imported: no start-up to pay for).

    ``crash_at="seal"`` ends the child between a rewrite's overwrite and its seal.
    """
    child = os.fork()
    if child == 0:  # the child: never returns to the test
        code = 0
        try:
            if crash_at == "seal":
                Maintenance.seal = lambda *_a, **_k: os._exit(137)  # type: ignore[method-assign]
            elif crash_at:
                os.environ["WEIR_CRASH_AT"] = f"lifecycle:{crash_at}"
            with weir.Project(root) as project:
                project.lifecycle.run(now=NOW)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _check_finished(root: Path) -> None:
    with weir.Project(root) as project:
        assert project.lifecycle.journal.unfinished() == {}
        assert _ids(project, "staging.pos") == KEPT
        assert _count(project, "raw.pos") == 56  # raw has no rule: every record is there
        assert _count(project, "quarantine.pos") == 0
        assert all(c.state != "mismatch" for c in project.sources.reconcile(["pos"]))
        audited = [
            r.entry.action
            for r in project.audit.records(kind="lifecycle")
            if r.entry.action.startswith(("lifecycle archive", "lifecycle destroy"))
        ]
        assert sorted(audited) == [
            "lifecycle archive staging.pos",
            "lifecycle destroy quarantine.pos",
        ]
    folders = [m.parent for m in (root / ".weir" / "archive").rglob("manifest.json")]
    assert len(folders) == 1  # one archive, written again in place when cut short
    ids: set[str] = set()
    for part in folders[0].glob("part-*.parquet"):
        ids |= set(pq.read_table(part, columns=["transaction_id"]).column(0).to_pylist())
    assert ids == GONE
    assert json.loads((folders[0] / "manifest.json").read_text())["rows"] == 15
    left: set[str] = set()
    for part in (root / ".weir" / "lake" / "staging").rglob("*.parquet"):
        left |= set(pq.read_table(part, columns=["transaction_id"]).column(0).to_pylist())
    assert left == KEPT  # the old file is gone from disk, not only from the table
    held = [
        pq.read_metadata(p).num_rows
        for p in (root / ".weir" / "lake" / "quarantine").rglob("*.parquet")
    ]
    assert sum(held) == 0  # the destroyed quarantine file too, though its rewrite was cut short


def test_a_run_killed_after_each_step_is_finished_by_the_next(tmp_path: Path) -> None:
    root = _shop(tmp_path, RULES)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
    for step in STEPS:
        assert _run(root, step) == 137, f"the run did not reach {step}"
        with weir.Project(root) as project:
            # whatever the step, nothing outside the rules is touched, and no row of staging
            # is gone unless the archive holding it was written and verified
            assert _count(project, "raw.pos") == 56
            staged = _ids(project, "staging.pos")
            assert staged >= KEPT
            if staged != GONE | KEPT:
                [action] = [a for a in project.lifecycle.journal.actions() if a.archive]
                assert verify_archive(Path(action.archive or ""), 15).rows == 15
    assert _run(root, None) == 0
    _check_finished(root)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_a_rerun_finishes(tmp_path: Path) -> None:
    root = _shop(tmp_path, RULES)
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
    rng = random.Random(20261207)
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(root), NOW.isoformat()], stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.5, 3.0))
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert _run(root, None) == 0
    _check_finished(root)
