"""The ``weir`` command: every command documented with an example, one-line errors, parseable output."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import edit_source, jsonl, land, pos_csv, pos_line, web_event

from weir.cli.main import cli


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from command_paths(sub, (*path, name))


ALL_COMMANDS = list(command_paths(cli))


def test_the_walk_finds_every_command() -> None:
    assert {" ".join(p) for p in ALL_COMMANDS} >= {
        "",
        "init",
        "generate",
        "ingest",
        "sql",
        "status",
        "snapshots",
        "demo",
        "quarantine",
        "quarantine list",
        "quarantine show",
        "quarantine replay",
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "weir")
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout
    assert "Example" in result.stdout


def test_not_a_project_is_one_error_line(tmp_path: Path) -> None:
    line = one_error_line(run("--project", tmp_path / "nothing-here", "status"))
    assert line.startswith(f"error: no weir.yml in {tmp_path / 'nothing-here'} or its parents")
    assert "weir init DIR --example retail" in line


def test_debug_shows_the_real_exception(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--debug", "--project", str(tmp_path), "status"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "ProjectError"


def test_init_then_status(tmp_path: Path) -> None:
    result = run("init", tmp_path / "shop")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shop" / "weir.yml").is_file()
    status = run("--project", tmp_path / "shop", "status", "--format", "json")
    assert status.exit_code == 0, status.output
    listed = json.loads(status.stdout)
    assert [s["source"] for s in listed][:2] == ["accounting_pnl", "crm_interactions"]
    assert all(s["received"] == 0 and s["reconciles"] for s in listed)
    assert one_error_line(run("init", tmp_path / "shop")).startswith("error: ")


@pytest.fixture
def ingested(project_root: Path) -> Path:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("t1", revenue="10.5"),
            pos_line("t2", revenue="4.5", store_id=2),
            pos_line("t1"),
            pos_line("t3", quantity="abc"),
        ),
    )
    land(
        project_root,
        "web_traffic",
        "web_2025-01-01T10.jsonl",
        jsonl(
            web_event("e1"),
            web_event("e2", device_type="SmartTV"),
        ),
    )
    result = run("--project", project_root, "ingest", "pos", "web_traffic", "--format", "json")
    assert result.exit_code == 0, result.output
    batches = {b["source"]: b for b in json.loads(result.stdout)}
    assert {
        k: batches["pos"][k] for k in ("files", "received", "accepted", "quarantined", "duplicates")
    } == {
        "files": 1,
        "received": 4,
        "accepted": 2,
        "quarantined": 1,
        "duplicates": 1,
    }
    assert batches["web_traffic"]["accepted"] == 1 and batches["web_traffic"]["quarantined"] == 1
    assert batches["pos"]["batch"].startswith("pos-")
    return project_root


def test_sql_as_json_and_csv(ingested: Path) -> None:
    query = "SELECT store_id, sum(revenue) AS revenue FROM staging.pos GROUP BY 1 ORDER BY 1"
    as_json = run("--project", ingested, "sql", query, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [
        {"store_id": 1, "revenue": 10.5},
        {"store_id": 2, "revenue": 4.5},
    ]
    as_csv = run("--project", ingested, "sql", query, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert list(csv.DictReader(io.StringIO(as_csv.stdout))) == [
        {"store_id": "1", "revenue": "10.5"},
        {"store_id": "2", "revenue": "4.5"},
    ]
    table = run("--project", ingested, "sql", query)
    assert table.exit_code == 0 and "10.5" in table.stdout


def test_sql_timestamps_and_lists_as_json(ingested: Path) -> None:
    result = run(
        "--project",
        ingested,
        "sql",
        "SELECT timestamp, _reasons FROM quarantine.pos",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"timestamp": "1735732800", "_reasons": ["quantity: 'abc' is not an int"]}
    ]


def test_status_and_snapshots(ingested: Path) -> None:
    status = {
        s["source"]: s
        for s in json.loads(run("--project", ingested, "status", "--format", "json").stdout)
    }
    assert (
        status["pos"]["received"],
        status["pos"]["in_quarantine"],
        status["pos"]["reconciles"],
    ) == (4, 1, True)
    assert status["pos"]["last_status"] == "committed"
    assert status["pos"]["newest_record"].startswith("2025-01-01T12:00:00")
    snapshots = run("--project", ingested, "snapshots", "staging.pos", "--format", "json")
    [snapshot] = json.loads(snapshots.stdout)
    assert snapshot["batch"] == status["pos"]["last_batch"] and snapshot["total_records"] == "2"


def test_quarantine_list_show_and_replay(ingested: Path) -> None:
    listed = run("--project", ingested, "quarantine", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == [
        {"source": "pos", "reason": "quantity: … is not an int", "records": 1},
        {
            "source": "web_traffic",
            "reason": "device_type: … is not one of Desktop, Mobile, Tablet",
            "records": 1,
        },
    ]
    shown = run(
        "--project",
        ingested,
        "quarantine",
        "show",
        "web_traffic",
        "--reason",
        "device_type",
        "--format",
        "json",
    )
    assert shown.exit_code == 0, shown.output
    [held] = json.loads(shown.stdout)
    assert (held["event_id"], held["device_type"]) == ("e2", "SmartTV")
    nothing = run(
        "--project",
        ingested,
        "quarantine",
        "show",
        "web_traffic",
        "--reason",
        "browser",
        "--format",
        "json",
    )
    assert json.loads(nothing.stdout) == []

    edit_source(
        ingested,
        "web_traffic",
        "enum: [Desktop, Mobile, Tablet]",
        "enum: [Desktop, Mobile, Tablet, SmartTV]",
    )
    replayed = run("--project", ingested, "quarantine", "replay", "web_traffic", "--format", "json")
    assert replayed.exit_code == 0, replayed.output
    [summary] = json.loads(replayed.stdout)
    assert {k: summary[k] for k in ("replayed", "accepted", "duplicates", "still_quarantined")} == {
        "replayed": 1,
        "accepted": 1,
        "duplicates": 0,
        "still_quarantined": 0,
    }
    status = {
        s["source"]: s
        for s in json.loads(run("--project", ingested, "status", "--format", "json").stdout)
    }
    assert (status["web_traffic"]["accepted"], status["web_traffic"]["in_quarantine"]) == (2, 0)
    assert status["web_traffic"]["reconciles"]


def test_unknown_source_is_one_error_line(ingested: Path) -> None:
    line = one_error_line(run("--project", ingested, "quarantine", "show", "web_trafic"))
    assert line == "error: no source named 'web_trafic' — did you mean 'web_traffic'?"


@pytest.mark.parametrize(
    "query",
    ["SELECT nope FROM staging.pos", "DROP TABLE staging.pos", "SELECT 1; SELECT 2", "SELEC 1"],
)
def test_bad_sql_is_one_error_line(ingested: Path, query: str) -> None:
    one_error_line(run("--project", ingested, "sql", query))


def test_bad_sql_is_one_line_from_the_real_command(project_root: Path) -> None:
    # a real process: a warning a library logs (which CliRunner does not capture) would show here
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "weir.cli.main",
            "--project",
            str(project_root),
            "sql",
            "LOAD httpfs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "error: only read queries are allowed, not COMMAND — weir sql is read-only: write SELECT (or WITH … SELECT)"
    ]


def test_ingest_from_a_folder_with_no_file_of_the_source_pattern(tmp_path: Path) -> None:
    assert run("init", tmp_path / "shop").exit_code == 0
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "orders_2025-01-01.csv").write_text("order_id\nW1\n", encoding="utf-8")
    line = one_error_line(
        run("--project", tmp_path / "shop", "ingest", "orders", "--path", exports)
    )
    assert line.startswith(f"error: no file under {exports} matches *.xml")
    assert "it holds 1 other file: orders_2025-01-01.csv" in line
    assert "sources/orders.yml" in line


@pytest.mark.parametrize(
    "name",
    ["shop, Ünïcode #1 %20", "it's a [shop] of 50% & more", "café#2,%2C"],
)
def test_a_project_under_any_legal_path_ingests_builds_and_answers(
    tmp_path: Path, name: str
) -> None:
    root = tmp_path / name
    assert run("init", root).exit_code == 0
    golden = Path(__file__).resolve().parent / "golden" / "landing"
    shutil.copytree(golden, root / "landing", dirs_exist_ok=True)
    built = run("--project", root, "run", "--format", "json")
    assert built.exit_code == 0, built.output
    staged = run(
        "--project", root, "sql", "SELECT count(*) AS n FROM staging.pos", "--format", "json"
    )
    assert staged.exit_code == 0, staged.output
    assert json.loads(staged.stdout) == [{"n": 17}]  # the golden POS lines accepted
    governed = run(
        "--project",
        root,
        "sql",
        "SELECT count(*) AS n FROM marts.sales_daily",
        "--as",
        "sam",
        "--format",
        "json",
    )
    assert governed.exit_code == 0, governed.output
    assert json.loads(governed.stdout)[0]["n"] > 0
    # everything under the project's own folder: nothing under a %-escaped copy of its name
    assert [p.name for p in tmp_path.iterdir()] == [name]


STATUS_FIELDS = {
    "source",
    "format",
    "batches",
    "files",
    "received",
    "accepted",
    "quarantined",
    "duplicates",
    "suppressed",
    "in_quarantine",
    "reconciles",
    "last_batch",
    "last_status",
    "last_at",
    "newest_record",
    "freshness",
    "freshness_seconds",
    "last_kind",
    "last_finished_at",
    "last_error",
}


def test_status_fits_a_terminal_and_json_has_every_field(ingested: Path) -> None:
    # the real command, its output a pipe 100 columns wide (as a terminal of that width)
    shown = subprocess.run(
        [sys.executable, "-m", "weir", "--project", str(ingested), "status"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        check=True,
    ).stdout
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 100, shown
    header = next(line for line in lines if "source" in line)
    for name in ("last batch", "in / ok / quar / dup", "newest", "state"):
        assert name in header, header
    sources = json.loads(run("--project", ingested, "status", "--format", "json").stdout)
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(sources), shown  # one line per source: nothing wrapped
    [pos] = [line for line in body if line.startswith("│ pos ")]
    assert "4 / 2 / 1 / 1" in pos and "│ ok " in pos, pos
    [never] = [line for line in body if line.startswith("│ orders ")]
    assert "0 / 0 / 0 / 0" in never and "no batch yet" in never

    assert all(set(s) == STATUS_FIELDS for s in sources)
    by_name = {s["source"]: s for s in sources}
    assert by_name["pos"]["last_status"] == "committed" and by_name["pos"]["last_kind"] == "ingest"
    assert isinstance(by_name["pos"]["freshness_seconds"], float)
    wide = run("--project", ingested, "status", "--wide")
    assert wide.exit_code == 0
    heading = next(line for line in wide.output.splitlines() if line.startswith("┃"))
    assert heading.count("┃") == len(STATUS_FIELDS) + 1  # a column for every field


@pytest.mark.parametrize("command", ["serve", "collect"])
def test_serve_and_collect_check_the_certificate_and_key_first(
    project_root: Path, tmp_path: Path, command: str
) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not read: the check fails before the server starts\n", encoding="utf-8")
    half = one_error_line(run("--project", project_root, command, "--tls-cert", cert))
    assert "HTTPS needs both a certificate and its key" in half
    assert "pass --tls-cert and --tls-key together" in half
    missing = tmp_path / "key.pem"
    line = one_error_line(
        run("--project", project_root, command, "--tls-cert", cert, "--tls-key", missing)
    )
    assert f"no file at {missing}" in line


@pytest.mark.parametrize("example", ["retail", "deliverability"])
def test_demo_keeps_a_folder_that_is_not_a_project(tmp_path: Path, example: str) -> None:
    kept = tmp_path / "mine" / "notes.txt"
    kept.parent.mkdir()
    kept.write_text("someone's files\n", encoding="utf-8")
    line = one_error_line(run("demo", "--example", example, "--dir", kept.parent))
    assert f"{kept.parent} exists and is not a weir project" in line
    assert "choose another --dir" in line
    assert kept.read_text(encoding="utf-8") == "someone's files\n"
