"""Dashboard files (``dashboards/<name>.yml``): the example's, and every mistake named.

The files are checked when the dashboards are opened: their shape (unknown
fields refused), their roles against weir.yml, their KPIs and dimensions
against metrics/*.yml. Each error names the file, the line or field, and a fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import weir
from weir.cli.main import cli
from weir.errors import ProjectError
from weir.governance.policy import Principal


def test_the_example_shows_every_kpi_the_funnel_and_the_stockout_list(
    project: weir.Project,
) -> None:
    boards = project.dashboards.configs()
    assert set(boards) == {"sales", "marketing", "operations", "support", "finance", "logistics"}
    shown = {t.kpi for b in boards.values() for t in b.tile_list()}
    shown |= {c.kpi for b in boards.values() for c in b.charts}
    shown |= {t.kpi for b in boards.values() for t in b.tables if t.kpi}
    assert shown == {k.name for k in project.kpis.definitions()}
    funnels = [c for c in boards["marketing"].charts if c.kind == "funnel"]
    assert [c.kpi for c in funnels] == ["funnel"]
    [stockouts] = [t for t in boards["operations"].tables if t.sql]
    assert "stockout_pairs = 1" in (stockouts.sql or "")


def test_each_role_sees_its_teams_dashboards(project: weir.Project) -> None:
    def names(user: str, role: str) -> set[str]:
        return set(project.dashboards.visible(Principal(user, role)))

    assert names("sam", "sales") == {"sales"}
    assert names("nina", "sales_north") == {"sales"}
    assert names("fay", "finance") == {"finance"}
    assert names("leo", "logistics") == {"logistics"}
    assert names("oscar", "operations") == {"operations", "logistics"}
    everything = {"sales", "marketing", "operations", "support", "finance", "logistics"}
    assert names("ana", "analyst") == everything
    assert len(names("ada", "admin")) == 6  # an admin role opens every dashboard


def write(root: Path, name: str, text: str) -> None:
    (root / "dashboards" / f"{name}.yml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        (
            "title: X\nroles: [sales]\ntiles: [net_sales]\ntitel: Y\n",
            "dashboards/broken.yml:4: unknown field 'titel'",
            "title",
        ),
        (
            "title: X\nroles: [sales]\ntiles: [net_sale]\n",
            "dashboards/broken.yml: tiles[0]: no KPI 'net_sale'",
            "did you mean 'net_sales'?",
        ),
        (
            "title: X\nroles: [sales]\ncharts: [{kpi: net_sales, kind: bar, by: channel}]\n",
            "dashboards/broken.yml: charts[0].by: net_sales has no dimension 'channel'",
            "its dimensions: store_id, region, product_id, product_type",
        ),
        (
            "title: X\nroles: [sails]\ntiles: [net_sales]\n",
            "dashboards/broken.yml: roles: no role 'sails' in weir.yml",
            "roles defined in weir.yml",
        ),
        (
            "title: X\nroles: [sales]\ncharts: [{kpi: net_sales, kind: bar}]\n",
            "dashboards/broken.yml:3: charts[0].by: a bar chart needs the dimension of its bars",
            "add by",
        ),
        (
            "title: X\nroles: [marketing]\ncharts: [{kpi: sessions, kind: funnel}]\n",
            "dashboards/broken.yml: charts[0]: kind funnel does not fit sessions",
            "a KPI with steps",
        ),
        (
            "title: X\nroles: [sales]\ntables: [{title: T, kpi: net_sales, sql: SELECT 1}]\n",
            "a table takes either kpi (with by) or sql",
            "keep one",
        ),
        (
            "title: X\nroles: [sales]\nfilters: {range: 8 weeks}\ntiles: [net_sales]\n",
            "is not a duration",
            "30d",
        ),
        ("title: X\nroles: [sales]\n", "the dashboard shows nothing", "add tiles"),
    ],
)
def test_a_mistake_names_the_file_the_field_and_the_fix(
    project_root: Path, text: str, message: str, fix: str
) -> None:
    write(project_root, "broken", text)
    with weir.Project(project_root) as project, pytest.raises(ProjectError) as error:
        project.dashboards.configs()
    assert message in error.value.what
    assert fix in (error.value.fix or "")


def test_a_changed_file_is_read_again(project: weir.Project) -> None:
    assert project.dashboards.configs()["sales"].title == "Sales"
    path = project.root / "dashboards" / "sales.yml"
    path.write_text(path.read_text().replace("title: Sales", "title: Store sales"))
    assert project.dashboards.configs()["sales"].title == "Store sales"


def test_set_password_from_the_command_line(project_root: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["-p", str(project_root), "user", "set-password", "sam", "--password-stdin"],
        input="a password for sam\n",
    )
    assert result.exit_code == 0, result.output
    assert "sam can sign in" in result.output
    with weir.Project(project_root) as project:
        assert project.signin.has_password("sam")
        assert not project.signin.has_password("mia")
        record = project.audit.records("password.set", limit=1)[0]
        assert record.entry.action == "password set for sam"
        short = runner.invoke(
            cli,
            ["-p", str(project_root), "user", "set-password", "mia", "--password-stdin"],
            input="short\n",
        )
        assert short.exit_code == 1 and "characters" in short.output


def test_the_demo_gives_each_team_a_password(project: weir.Project) -> None:
    from argon2 import PasswordHasher

    from weir.demo.tour import set_demo_passwords

    project.signin.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    people = set_demo_passwords(project)
    roles = {p["role"] for p in people}
    assert roles >= {"sales", "marketing", "operations", "logistics", "support", "finance", "admin"}
    assert len({p["password"] for p in people}) == len(people)  # each its own
    sam = next(p for p in people if p["user"] == "sam")
    session = project.signin.with_password("sam", sam["password"], "127.0.0.1")
    assert session.principal.role == "sales"
