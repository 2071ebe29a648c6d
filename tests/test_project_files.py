"""A mistake in a project file fails loudly, naming the file, the line, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import edit_source

import weir
from weir.errors import NotFoundError, ProjectError, WeirError
from weir.ingest import Contract
from weir.project import load_project


def line_of(root: Path, source: str, text: str) -> int:
    """The 1-based line of ``sources/<source>.yml`` holding ``text``."""
    lines = (root / "sources" / f"{source}.yml").read_text(encoding="utf-8").splitlines()
    [number] = [i + 1 for i, line in enumerate(lines) if text in line]
    return number


def load_error(root: Path) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    message = str(caught.value)
    assert "\n" not in message, "an error is one line"
    return caught.value


def test_example_project_loads(project_root: Path) -> None:
    files = load_project(project_root)
    assert sorted(files.sources) == [
        "accounting_pnl",
        "crm_interactions",
        "customer_demographics",
        "customers",
        "device_events",
        "inventory",
        "orders",
        "parcel_hops",
        "pos",
        "products",
        "purchase_orders",
        "stores",
        "warehouses",
        "web_traffic",
    ]
    for source in files.sources.values():
        Contract(source)  # every example contract's rules parse and name real columns


def test_typo_in_a_field_names_file_line_and_suggests_the_field(project_root: Path) -> None:
    edit_source(
        project_root,
        "pos",
        "{name: quantity, type: int, nullable: false",
        "{name: quantity, type: int, nulable: false",
    )
    error = load_error(project_root)
    line = line_of(project_root, "pos", "nulable")
    assert str(error).startswith(f"sources/pos.yml:{line}: unknown field 'columns[3].nulable'")
    assert error.fix == "did you mean 'nullable'?"


def test_typo_in_a_block_style_column_points_at_its_own_line(project_root: Path) -> None:
    # web_traffic's `page` column is written over several lines: the error points at the typo
    edit_source(project_root, "web_traffic", "    nullable: false\n", "    nulable: false\n")
    error = load_error(project_root)
    line = line_of(project_root, "web_traffic", "nulable")
    assert str(error).startswith(
        f"sources/web_traffic.yml:{line}: unknown field 'columns[3].nulable'"
    )
    assert error.fix == "did you mean 'nullable'?"


def test_typo_in_weir_yml(project_root: Path) -> None:
    (project_root / "weir.yml").write_text("name: retail\nstate_dirr: .weir\n", encoding="utf-8")
    error = load_error(project_root)
    assert str(error).startswith("weir.yml:2: unknown field 'state_dirr'")
    assert error.fix == "did you mean 'state_dir'?"


def test_unknown_field_without_a_close_match_lists_the_allowed_fields(project_root: Path) -> None:
    edit_source(project_root, "pos", "schedule: daily\n", "schedule: daily\nfrobnicate: true\n")
    error = load_error(project_root)
    line = line_of(project_root, "pos", "frobnicate")
    assert str(error).startswith(f"sources/pos.yml:{line}: unknown field 'frobnicate'")
    assert error.fix is not None and error.fix.startswith("allowed fields here: name, description")
    assert "columns" in error.fix


def test_missing_required_field(project_root: Path) -> None:
    edit_source(project_root, "pos", "format: csv\n", "")
    error = load_error(project_root)
    assert error.what == "sources/pos.yml:1: missing required field 'format'"
    assert error.fix == "add 'format:'"


def test_missing_required_field_of_a_column(project_root: Path) -> None:
    edit_source(project_root, "pos", "{name: quantity, type: int, ", "{name: quantity, ")
    error = load_error(project_root)
    line = line_of(project_root, "pos", "{name: quantity,")
    assert error.what == f"sources/pos.yml:{line}: missing required field 'columns[3].type'"
    assert error.fix == "add 'type:'"


def test_invalid_enum_value_for_type(project_root: Path) -> None:
    edit_source(
        project_root, "pos", "{name: quantity, type: int,", "{name: quantity, type: integer,"
    )
    error = load_error(project_root)
    line = line_of(project_root, "pos", "type: integer")
    assert str(error).startswith(
        f"sources/pos.yml:{line}: columns[3].type: Input should be 'string'"
    )
    assert error.fix == "use one of 'string', 'int', 'float', 'bool', 'epoch' or 'date'"


def test_invalid_enum_value_for_format(project_root: Path) -> None:
    edit_source(project_root, "pos", "format: csv\n", "format: excel\n")
    error = load_error(project_root)
    line = line_of(project_root, "pos", "format: excel")
    assert str(error).startswith(f"sources/pos.yml:{line}: format: Input should be 'csv'")
    assert error.fix is not None and "'parquet'" in error.fix


def test_bad_yaml_syntax_names_the_line(project_root: Path) -> None:
    edit_source(project_root, "pos", "schedule: daily\n", "schedule: daily\n  oops: [\n")
    error = load_error(project_root)
    line = line_of(project_root, "pos", "oops")
    assert error.what.startswith(f"sources/pos.yml: line {line} invalid YAML:")
    assert error.fix == "fix the syntax"


def test_a_file_that_is_not_a_mapping(project_root: Path) -> None:
    (project_root / "sources" / "pos.yml").write_text("- just\n- a list\n", encoding="utf-8")
    error = load_error(project_root)
    assert error.what == "sources/pos.yml: expected a mapping of settings"


def test_key_naming_an_unknown_column(project_root: Path) -> None:
    edit_source(project_root, "pos", "key: [transaction_id]", "key: [txn_id]")
    error = load_error(project_root)
    line = line_of(project_root, "pos", "key: [txn_id]")
    assert error.what == f"sources/pos.yml:{line}: key: names 'txn_id', which is not a column"
    assert error.fix is not None and "transaction_id" in error.fix


def test_time_column_naming_an_unknown_column(project_root: Path) -> None:
    edit_source(project_root, "inventory", "time_column: last_updated", "time_column: updated_at")
    error = load_error(project_root)
    line = line_of(project_root, "inventory", "time_column: updated_at")
    assert (
        error.what
        == f"sources/inventory.yml:{line}: time_column: names 'updated_at', which is not a column"
    )
    assert error.fix is not None and "last_updated" in error.fix


def test_a_check_that_does_not_fit_the_column_type(project_root: Path) -> None:
    edit_source(
        project_root,
        "pos",
        "{name: transaction_id, type: string,",
        "{name: transaction_id, type: string, min: 1,",
    )
    error = load_error(project_root)
    line = line_of(project_root, "pos", "min: 1, nullable: false, description: Unique")
    assert error.what == (
        f"sources/pos.yml:{line}: columns[0].min: min/max apply to int, float and epoch columns, not string"
    )


def test_source_name_must_be_lower_case(project_root: Path) -> None:
    edit_source(project_root, "pos", "name: pos\n", "name: POS\n")
    error = load_error(project_root)
    assert error.what.startswith("sources/pos.yml:1: name: String should match pattern")
    assert error.fix == "use lower-case letters, digits and underscores, starting with a letter"


def test_rule_referencing_an_unknown_column_fails_when_the_contract_is_built(
    project_root: Path,
) -> None:
    edit_source(
        project_root,
        "pos",
        "check: discount_applied IS NULL OR discount_applied <= revenue",
        "check: discount IS NULL OR discount <= revenue",
    )
    source = load_project(project_root).source("pos")  # the file itself is valid YAML and shape
    with pytest.raises(ProjectError) as caught:
        Contract(source)
    assert caught.value.what == (
        "sources/pos.yml: rules.discount_within_revenue: the check names discount, not columns of the source"
    )
    assert caught.value.fix is not None and "discount_applied" in caught.value.fix


def test_rule_that_does_not_parse(project_root: Path) -> None:
    edit_source(
        project_root,
        "pos",
        "check: discount_applied IS NULL OR discount_applied <= revenue",
        "check: discount_applied <= <= revenue",
    )
    with pytest.raises(
        ProjectError,
        match=r"^sources/pos.yml: rules.discount_within_revenue: the check does not parse",
    ):
        Contract(load_project(project_root).source("pos"))


def test_rule_may_not_hold_a_query(project_root: Path) -> None:
    edit_source(
        project_root,
        "pos",
        "check: discount_applied IS NULL OR discount_applied <= revenue",
        "check: revenue < (SELECT 1)",
    )
    with pytest.raises(ProjectError, match="a check may not hold a query"):
        Contract(load_project(project_root).source("pos"))


def test_unknown_source_name_suggests_the_closest(project: weir.Project) -> None:
    with pytest.raises(ProjectError) as caught:
        project.sources.ingest(["web_trafic"])
    assert caught.value.what == "no source named 'web_trafic'"
    assert caught.value.fix == "did you mean 'web_traffic'?"


def test_an_unknown_name_is_not_found_and_says_what_was_asked(project: weir.Project) -> None:
    for ask, kind, name, suggestion in (
        (lambda: project.sources.ingest(["web_trafic"]), "source", "web_trafic", "web_traffic"),
        (lambda: project.kpis.answer("net_sale"), "kpi", "net_sale", "net_sales"),
        (
            lambda: project.models.plan(["marts.sales_dayly"]),
            "model",
            "marts.sales_dayly",
            "marts.sales_daily",
        ),
        (lambda: project.sources.quarantine("zzz"), "source", "zzz", None),
    ):
        with pytest.raises(NotFoundError) as caught:
            ask()
        error = caught.value
        assert error.status == 404 and error.code == "not_found"
        assert (error.kind, error.name) == (kind, name)
        if suggestion is not None:
            assert error.suggestion == suggestion
        assert isinstance(error, ProjectError)  # as such names were before
        assert error.what and error.fix  # what and fix stay


def test_unknown_source_name_without_a_close_match_lists_the_sources(project: weir.Project) -> None:
    with pytest.raises(ProjectError) as caught:
        project.files.source("zzz")
    assert caught.value.fix is not None and caught.value.fix.startswith(
        "known sources: accounting_pnl, crm_interactions, "
    )


def test_a_folder_without_weir_yml_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(tmp_path)
    assert caught.value.what == f"{tmp_path.resolve()} is not a weir project (no weir.yml)"
    assert isinstance(caught.value, WeirError)


def test_init_refuses_an_existing_project(project_root: Path) -> None:
    with pytest.raises(ProjectError, match="already holds a weir project"):
        weir.init_project(project_root)


def test_a_key_column_that_may_be_null_must_be_a_string(project_root: Path) -> None:
    edit_source(
        project_root,
        "inventory",
        "{name: inventory_id, type: int, nullable: false,",
        "{name: inventory_id, type: int,",
    )
    error = load_error(project_root)
    line = line_of(project_root, "inventory", "key: [inventory_id]")
    assert error.what == (
        f"sources/inventory.yml:{line}: key: key column 'inventory_id' may be null, "
        "and only a string key can be filled by a content hash"
    )
    assert error.fix == "declare 'inventory_id' with nullable: false (or make it a string)"
