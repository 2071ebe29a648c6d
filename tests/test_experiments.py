"""A/B tests: the statistics against published values, the experiment KPI on a hand-made
dataset (tests/golden/experiments), the CLI and the API over it, and the generator's effect."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from golden.check import assert_answer, plain
from golden.expected_experiments import EXPERIMENTS, REPORT, REPORT_BY_DEVICE

import weir
from weir.cli.main import cli
from weir.errors import ProjectError, UnknownName
from weir.metrics.experiments import load_experiments
from weir.metrics.proportions import newcombe, sessions_needed, wilson, z_test
from weir.serve.app import create_app

LANDING = Path(__file__).resolve().parent / "golden" / "experiments"


# -- the statistics ---------------------------------------------------------------------------
def test_wilson_interval_matches_newcombes_published_example() -> None:
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", 81/263:
    # the Wilson score interval without continuity correction is 0.2553 to 0.3662
    low, high = wilson(81, 263)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) is None


@pytest.mark.parametrize(
    ("counts", "published"),
    [
        # Newcombe (1998), "Interval estimation for the difference between independent
        # proportions", Table II, method 10 (hybrid score, from Wilson intervals):
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ],
)
def test_newcombe_interval_matches_the_published_table(
    counts: tuple[int, int, int, int], published: tuple[float, float]
) -> None:
    low, high = newcombe(*counts)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == published


def test_z_test_worked_by_hand() -> None:
    # 56/70 vs 48/80: P = 104/150 = 0.693333; se = sqrt(0.693333 * 0.306667 * (1/70 + 1/80))
    # = sqrt(0.212622 * 0.026786) = 0.075467; z = (0.8 - 0.6) / 0.075467 = 2.650155;
    # p = 2 (1 - Phi(2.650155)) = 2 * 0.004023 = 0.008045
    assert round(z_test(56, 70, 48, 80), 6) == 0.008045  # type: ignore[arg-type]
    assert z_test(0, 10, 0, 20) is None  # no conversions anywhere: no variance, no test
    assert z_test(1, 0, 1, 10) is None


def test_sessions_needed_matches_r_power_prop_test() -> None:
    # R: power.prop.test(p1 = 0.50, p2 = 0.75, power = 0.90) gives n = 76.65 per group
    assert sessions_needed(0.5, 0.75, power=0.9) == 77
    # power.prop.test(p1 = 0.10, p2 = 0.12, power = 0.80) gives n = 3840.85
    assert sessions_needed(0.10, 0.12) == 3841
    assert sessions_needed(0.1, 0.1) is None
    assert sessions_needed(0.95, 1.05) is None


# -- declarations ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: t\nvariants: [a, b]\nminimum_detectable_effect: 0.1\n", "no 'control'"),
        ("name: t\nvariants: [control, b, b]\nminimum_detectable_effect: 0.1\n", "listed twice"),
        ("name: t\nvariants: [control, b]\nminimum_detectable_effect: 0\n", "greater than 0"),
        (
            "name: t\nvariants: [control, b]\nminimum_detectable_effect: 0.1\nmde: 1\n",
            "unknown field",
        ),
        (
            "name: t\nvariants: [control, b]\nminimum_detectable_effect: 0.1\n"
            "start: 2025-03-02\nend: 2025-03-01\n",
            "before start",
        ),
    ],
)
def test_a_bad_declaration_says_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "t.yml").write_text(text)
    with pytest.raises(ProjectError, match=message) as caught:
        load_experiments(tmp_path)
    assert "experiments/t.yml" in str(caught.value)


# -- the hand-made dataset, end to end ---------------------------------------------------------
@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> weir.Project:
    """The example project with only the experiments' web events, built up to the mart."""
    root = weir.init_project(tmp_path_factory.mktemp("experiments") / "shop")
    shutil.copytree(LANDING, root / "landing", dirs_exist_ok=True)
    project = weir.Project(root)
    _, result = project.run(["+marts.experiment_sessions"])
    assert result.ok, [(b.model, b.error) for b in result.builds if b.status == "failed"]
    return project


@pytest.mark.parametrize("entry", EXPERIMENTS, ids=[e["grain"] for e in EXPERIMENTS])
def test_experiment_conversion_matches_the_hand_worked_value(
    shop: weir.Project, entry: dict[str, Any]
) -> None:
    assert_answer(shop, entry)


def _rows(table: Any, expected: dict[str, Any]) -> None:
    wanted = sorted({key for row in expected["rows"] for key in row})
    got = table.to_pylist()
    assert {plain(r["period"]) for r in got} == {expected["period"]}
    assert {r["experiment"] for r in got} == {expected["experiment"]}
    assert [{k: plain(r.get(k)) for k in wanted} for r in got] == [
        {k: plain(r.get(k)) for k in wanted} for r in expected["rows"]
    ]


def test_one_experiment_over_its_run(shop: weir.Project) -> None:
    _rows(shop.kpis.experiment("one_page_checkout"), REPORT)


def test_one_experiment_by_device_type(shop: weir.Project) -> None:
    _rows(shop.kpis.experiment("one_page_checkout", by=["device_type"]), REPORT_BY_DEVICE)


def test_the_range_narrows_the_run_and_a_variant_without_sessions_still_shows(
    shop: weir.Project,
) -> None:
    table = shop.kpis.experiment("home_banner", start=date(2025, 3, 3), end=date(2025, 3, 3))
    rows = {r["variant"]: r for r in table.to_pylist()}
    assert list(rows) == ["control", "carousel", "grid"]  # the declared order
    assert rows["grid"]["sessions"] == 1 and rows["grid"]["conversions"] == 1
    # no session saw control or carousel: zero sessions, no rate, nothing to compare with
    assert rows["control"]["sessions"] == 0 and rows["control"]["value"] is None
    assert rows["grid"]["lift"] is None and rows["grid"]["p_value"] is None
    only_day_two = shop.kpis.experiment(
        "one_page_checkout", start=date(2025, 3, 4), end=date(2025, 3, 4)
    ).to_pylist()
    assert [(r["variant"], r["sessions"], r["conversions"]) for r in only_day_two] == [
        ("control", 1, 1),
        ("one_page", 1, 0),
    ]


def test_an_unknown_experiment_names_the_closest(shop: weir.Project) -> None:
    with pytest.raises(UnknownName, match="one_page_checkout"):
        shop.kpis.experiment("one_page_chekout")


def test_the_mart_keeps_the_excluded_session_apart(shop: weir.Project) -> None:
    rows = shop.sql(
        "SELECT session_id, variant, sessions, converted, excluded FROM marts.experiment_sessions "
        "WHERE experiment = 'one_page_checkout' ORDER BY session_id"
    ).to_pylist()
    by_id = {r["session_id"]: r for r in rows}
    assert set(by_id) == {
        "c1",
        "c2",
        "c3",
        "c4",
        "c5",
        "c6",
        "c7",
        "t1",
        "t2",
        "t3",
        "t4",
        "t5",
        "x1",
    }
    assert by_id["x1"] == {
        "session_id": "x1",
        "variant": None,
        "sessions": 0,
        "converted": 0,
        "excluded": 1,
    }
    assert by_id["c3"]["converted"] == 0 and by_id["t3"]["converted"] == 1


def test_cli_answers_an_experiment_and_lists_them(shop: weir.Project) -> None:
    root = str(shop.root)
    runner = CliRunner()
    answer = runner.invoke(
        cli, ["-p", root, "kpi", "experiment", "one_page_checkout", "--format", "json"]
    )
    assert answer.exit_code == 0, answer.output
    rows = json.loads(answer.output)
    assert [(r["variant"], r["sessions"], r["required_sessions"]) for r in rows] == [
        ("control", 7, 2115),
        ("one_page", 5, 2115),
    ]
    listed = runner.invoke(cli, ["-p", root, "kpi", "experiment", "--format", "json"])
    assert {r["experiment"] for r in json.loads(listed.output)} == {
        "one_page_checkout",
        "home_banner",
    }
    wrong = runner.invoke(cli, ["-p", root, "kpi", "experiment", "nope"])
    assert wrong.exit_code == 1 and "no experiment named nope" in wrong.output
    extra = runner.invoke(cli, ["-p", root, "kpi", "sessions", "one_page_checkout"])
    assert extra.exit_code == 2 and "a KPI takes one NAME" in extra.output


def _get(project: weir.Project, url: str, token: str) -> httpx.Response:
    app = create_app(project)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            return await client.get(url, headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(send())


def test_api_answers_marketing_and_hides_it_from_sales_with_an_audit_record(
    shop: weir.Project,
) -> None:
    mia = shop.access.tokens().create("mia", "marketing", note="tests")[1]
    sam = shop.access.tokens().create("sam", "sales", note="tests")[1]
    url = "/api/v1/experiments/one_page_checkout?by=device_type&from=2025-03-03&to=2025-03-04"
    answer = _get(shop, url, mia)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = [c["name"] for c in body["columns"]]
    rows = [dict(zip(names, row, strict=True)) for row in body["rows"]]
    assert [(r["variant"], r["device_type"], r["sessions"]) for r in rows] == [
        ("control", "Desktop", 4),
        ("one_page", "Desktop", 2),
        ("control", "Mobile", 3),
        ("one_page", "Mobile", 3),
    ]
    assert round(rows[1]["p_value"], 6) == 0.438578
    hidden = _get(shop, "/api/v1/experiments/one_page_checkout", sam)
    assert hidden.status_code == 404
    records = shop.audit.records(kind="kpi", limit=5)
    mine = [r.entry for r in records if r.entry.action.startswith("experiment one_page_checkout")]
    assert [(e.user, e.allowed) for e in mine[:2]] == [("sam", False), ("mia", True)]
    assert mine[1].datasets == ("marts.experiment_sessions",)
    unknown = _get(shop, "/api/v1/experiments/nope", mia)
    assert unknown.status_code == 404 and "no experiment named nope" in unknown.text


def test_an_ab_kpi_is_compared_with_control_not_with_the_previous_period(
    shop: weir.Project,
) -> None:
    table = shop.kpis.answer(
        "experiment_conversion",
        "day",
        ["device_type"],
        start=date(2025, 3, 4),
        end=date(2025, 3, 4),
        compare="previous_period",
    )
    assert "previous_value" not in table.column_names
    assert table.column_names[:4] == ["period", "experiment", "variant", "device_type"]
    rows = table.to_pylist()
    assert [(r["variant"], r["device_type"], r["lift"]) for r in rows] == [
        ("control", "Desktop", None),  # c6
        ("one_page", "Mobile", None),  # t5: no control on Mobile that day, nothing to compare
    ]


def test_the_generator_plants_a_real_effect_in_one_test_and_none_in_the_other(
    tmp_path: Path,
) -> None:
    """Read back from the generated files (by session id): the one-page checkout converts
    clearly more than its control; no banner variant differs from its control."""
    from weir.demo.generate import generate

    generate(tmp_path, days=3, scale=0.6, seed=7, end=date(2026, 6, 30))
    seen: dict[tuple[str, str], set[str]] = {}
    converted: set[str] = set()
    for path in sorted((tmp_path / "web_traffic").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a planted malformed line
            if not isinstance(event, dict):
                continue  # a planted line that is JSON but no object
            session = str(event.get("session_id"))
            if event.get("experiment") and event.get("variant"):
                seen.setdefault((event["experiment"], event["variant"]), set()).add(session)
            if event.get("element") == "buy" or event.get("page") == "/checkout/confirmation":
                converted.add(session)

    def counts(experiment: str, variant: str) -> tuple[int, int]:
        sessions = seen[(experiment, variant)]
        return len(sessions & converted), len(sessions)

    x, n = counts("one_page_checkout", "one_page")
    xc, nc = counts("one_page_checkout", "control")
    assert x / n > 1.2 * xc / nc and (z_test(x, n, xc, nc) or 1) < 0.001
    xc, nc = counts("home_banner", "control")
    for variant in ("carousel", "grid"):
        x, n = counts("home_banner", variant)
        assert abs(x / n - xc / nc) < 0.2 * xc / nc and (z_test(x, n, xc, nc) or 0) > 0.05
