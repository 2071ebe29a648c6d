"""``Project.sql`` reads lake tables and nothing else: every write, file read or setting is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ingest_one, land, pos_csv, pos_line, rows

import weir
from weir.engine import EngineError
from weir.errors import QueryError
from weir.lake import LakeViews


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[weir.Project]:
    """One small ingested project, shared: every query here only reads (or is refused)."""
    root = weir.init_project(tmp_path_factory.mktemp("sql") / "shop")
    land(root, "pos", "pos_2025-01-01_store001.csv", pos_csv(pos_line("t1"), pos_line("t2"), "bad"))
    with weir.Project(root) as project:
        ingest_one(project, "pos")
        yield project


def refusal(project: weir.Project, query: str) -> str:
    with pytest.raises(QueryError) as caught:
        project.sql(query)
    message = str(caught.value)
    assert message.strip() and "\n" not in message, f"not one line: {message!r}"
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("query", "refused_as"),
    [
        (
            "INSERT INTO staging.pos SELECT * FROM staging.pos",
            "only read queries are allowed, not INSERT",
        ),
        ("UPDATE staging.pos SET quantity = 0", "only read queries are allowed, not UPDATE"),
        ("DELETE FROM staging.pos", "only read queries are allowed, not DELETE"),
        (
            "CREATE TABLE copy AS SELECT * FROM staging.pos",
            "only read queries are allowed, not CREATE",
        ),
        ("DROP TABLE staging.pos", "only read queries are allowed, not DROP"),
        ("COPY staging.pos TO '/tmp/weir-leak.csv'", "only read queries are allowed, not COPY"),
        ("ATTACH '/tmp/weir-other.db' AS other", "only read queries are allowed, not ATTACH"),
        ("PRAGMA database_list", "only read queries are allowed, not PRAGMA"),
        ("SET enable_external_access = true", "only read queries are allowed, not SET"),
        ("INSTALL httpfs", "only read queries are allowed, not INSTALL"),
        ("LOAD httpfs", "only read queries are allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv() is not allowed"),
        ("SELECT * FROM read_csv_auto('/etc/passwd')", "function read_csv_auto() is not allowed"),
        ("SELECT * FROM read_text('/etc/passwd')", "function read_text() is not allowed"),
        ("SELECT * FROM glob('*')", "function glob() is not allowed"),
        ("SELECT * FROM query('SELECT 42')", "function query() is not allowed"),
        ("SELECT * FROM query_table('staging.pos')", "function query_table() is not allowed"),
        ("SELECT getenv('HOME')", "function getenv() is not allowed"),
        ("SELECT * FROM duckdb_settings()", "function duckdb_settings() is not allowed"),
        (
            "SELECT count(*) FROM (SELECT * FROM read_parquet('x.parquet'))",
            "function read_parquet() is not allowed",
        ),
        ("SELECT 1; SELECT 2", "expected one statement, got 2"),
        ("SELECT * FROM staging.pos; DROP TABLE staging.pos", "expected one statement, got 2"),
    ],
)
def test_refused(lake: weir.Project, query: str, refused_as: str) -> None:
    assert refusal(lake, query).startswith(refused_as)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'landing/pos/pos_2025-01-01_store001.csv'",
    ],
)
def test_files_named_as_tables_cannot_be_read(lake: weir.Project, query: str) -> None:
    # the check refuses a quoted path as a table; the session could not read it either
    assert refusal(lake, query).startswith("reading files is not allowed")
    views = LakeViews(lake.lake)
    session, _ = views.session([])
    try:
        # not read: external access is off, so DuckDB does not look for such a file
        with pytest.raises(EngineError, match=r"(?i)(permission|disabled|does not exist)"):
            session.execute(query).fetchall()
    finally:
        session.close()
        views.close()


def test_the_connection_is_locked_even_for_a_query_that_passes_the_parser(
    lake: weir.Project,
) -> None:
    views = LakeViews(lake.lake)
    con, _ = views.session(["staging.pos"])
    try:
        with pytest.raises(EngineError, match=r"(?i)configuration"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(EngineError, match=r"(?i)(permission|disabled)"):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")
    finally:
        con.close()
        views.close()


def test_a_bad_query_is_one_line(lake: weir.Project) -> None:
    assert refusal(lake, "SELECT nope FROM staging.pos").startswith("query failed: Binder Error:")
    assert refusal(lake, "SELECT * FROM staging.nothing").startswith("query failed: Catalog Error:")
    assert refusal(lake, "SELEC 1").startswith("cannot parse the SQL")


def test_select_with_and_union_over_lake_tables(lake: weir.Project) -> None:
    assert rows(lake, "SELECT transaction_id FROM staging.pos ORDER BY 1") == [
        {"transaction_id": "t1"},
        {"transaction_id": "t2"},
    ]
    assert rows(
        lake, "WITH held AS (SELECT count(*) AS n FROM quarantine.pos) SELECT n FROM held"
    ) == [{"n": 1}]
    assert rows(
        lake,
        "SELECT 'raw' AS layer, count(*) AS n FROM raw.pos UNION ALL "
        "SELECT 'staging', count(*) FROM staging.pos UNION ALL "
        "SELECT 'quarantine', count(*) FROM quarantine.pos ORDER BY 1",
    ) == [{"layer": "quarantine", "n": 1}, {"layer": "raw", "n": 3}, {"layer": "staging", "n": 2}]
    assert rows(lake, "FROM staging.pos SELECT count(*) AS n") == [{"n": 2}]
    assert rows(lake, "SELECT 1 AS one;") == [{"one": 1}]  # a trailing semicolon is one statement


def test_query_error_is_a_weir_error_with_a_fix(lake: weir.Project) -> None:
    with pytest.raises(weir.WeirError) as caught:
        lake.sql("DROP TABLE staging.pos")
    assert caught.value.fix == "weir sql is read-only: write SELECT (or WITH … SELECT)"
    assert rows(lake, "SELECT count(*) AS n FROM staging.pos") == [{"n": 2}]  # still there
