"""Every KPI of docs/kpis.md on the hand-made golden dataset, against values worked out by hand."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from golden.check import assert_answer
from golden.expected import EXPECTED, REOPENED
from golden.expected_experiments import EXPERIMENTS
from golden.expected_pnl import PNL
from golden.logistics import LOGISTICS  # asked in test_logistics.py (an API and a database)

import weir

GOLDEN = Path(__file__).resolve().parent / "golden" / "landing"
REOPENED_CRM = Path(__file__).resolve().parent / "golden" / "reopened" / "crm_interactions"


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> weir.Project:
    root = weir.init_project(tmp_path_factory.mktemp("golden") / "shop")
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    project = weir.Project(root)
    _, result = project.run()
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    return project


def _id(entry: dict[str, Any]) -> str:
    by = "+".join(entry["by"]) or "all"
    return f"{entry['kpi']}-{entry['grain']}-{by}-{entry['from']}"


@pytest.fixture(scope="module")
def reopened(tmp_path_factory: pytest.TempPathFactory) -> weir.Project:
    """The golden dataset with its CRM interactions replaced by the re-opened variant."""
    root = weir.init_project(tmp_path_factory.mktemp("reopened") / "shop")
    shutil.copytree(GOLDEN, root / "landing", dirs_exist_ok=True)
    shutil.rmtree(root / "landing" / "crm_interactions")
    shutil.copytree(REOPENED_CRM, root / "landing" / "crm_interactions")
    project = weir.Project(root)
    _, result = project.run()
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    return project


@pytest.mark.parametrize("entry", EXPECTED, ids=[_id(e) for e in EXPECTED])
def test_kpi_matches_the_hand_worked_value(golden: weir.Project, entry: dict[str, Any]) -> None:
    assert_answer(golden, entry)


@pytest.mark.parametrize("entry", PNL, ids=[_id(e) for e in PNL])
def test_profit_and_loss_matches_the_hand_worked_value(
    golden: weir.Project, entry: dict[str, Any]
) -> None:
    assert_answer(golden, entry)


@pytest.mark.parametrize("entry", REOPENED, ids=[_id(e) for e in REOPENED])
def test_a_case_reopened_the_day_it_was_resolved(
    reopened: weir.Project, entry: dict[str, Any]
) -> None:
    assert_answer(reopened, entry)


def test_every_kpi_of_kpis_md_is_defined_and_tested(golden: weir.Project) -> None:
    defined = {k.name for k in golden.kpis.definitions()}
    # experiment_conversion is answered on its own dataset (tests/test_experiments.py)
    tested = {e["kpi"] for e in [*EXPECTED, *PNL, *EXPERIMENTS, *LOGISTICS]}
    assert tested <= defined, sorted(tested - defined)
    assert defined <= tested, sorted(defined - tested)
