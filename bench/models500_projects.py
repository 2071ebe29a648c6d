"""The three projects of the 500-model benchmark: the same chain of models for weir, dbt and SQLMesh."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import weir

ROWS = 1_000


def model_name(i: int) -> str:
    return f"m{i:04d}"


def model_select(i: int, ref: Callable[[int], str]) -> str:
    """Model i's SELECT; ``ref`` spells a reference to another model in each tool."""
    if i == 0:
        return f"SELECT range AS id, range % 10 AS k, range * 2 AS v, range % 7 AS w\nFROM range({ROWS})\n"
    if i == 1:
        return f"SELECT id, k, v + 1 AS v, (v + k) % 7 AS w\nFROM {ref(0)}\nWHERE id <> 1\n"
    return (
        "SELECT a.id, a.k, a.v + coalesce(b.w, 0) AS v, (a.v + a.k) % 7 AS w\n"
        f"FROM {ref(i - 1)} AS a\n"
        f"LEFT JOIN {ref(i - 2)} AS b ON b.id = a.id\n"
        f"WHERE a.id <> {i}\n"
    )


def check_sql(table: str) -> str:
    return f"SELECT count(*) AS n, sum(v) AS total FROM {table}"


def weir_project(root: Path, models: int) -> None:
    weir.init_project(root, example=None)
    folder = root / "models" / "bench"
    folder.mkdir(parents=True)
    for i in range(models):
        header = f"/*\ndescription: link {i} of the chain\n*/\n"
        (folder / f"{model_name(i)}.sql").write_text(
            header + model_select(i, lambda j: f"bench.{model_name(j)}"), encoding="utf-8"
        )


def dbt_project(root: Path, models: int) -> None:
    folder = root / "models"
    folder.mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
        "model-paths: [models]\n"
        "flags:\n  send_anonymous_usage_stats: false\n  partial_parse: true\n"
        "models:\n  bench:\n    +materialized: table\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: '{root / 'dbt.duckdb'}'\n      schema: bench\n      threads: 1\n",
        encoding="utf-8",
    )
    for i in range(models):
        (folder / f"{model_name(i)}.sql").write_text(
            model_select(i, lambda j: f"{{{{ ref('{model_name(j)}') }}}}"), encoding="utf-8"
        )


def sqlmesh_project(root: Path, models: int) -> None:
    folder = root / "models"
    folder.mkdir(parents=True)
    (root / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: '{root / 'warehouse.duckdb'}'\n      concurrent_tasks: 1\n"
        "default_gateway: local\n"
        "model_defaults:\n  dialect: duckdb\n  start: '2025-01-01'\n"
        "disable_anonymized_analytics: true\n",
        encoding="utf-8",
    )
    for i in range(models):
        header = f"MODEL (\n  name bench.{model_name(i)},\n  kind FULL,\n  description 'link {i} of the chain'\n);\n\n"
        (folder / f"{model_name(i)}.sql").write_text(
            header + model_select(i, lambda j: f"bench.{model_name(j)}"), encoding="utf-8"
        )


def expected(models: int) -> tuple[int, int]:
    """Rows and sum(v) of the last model, worked out in Python."""
    ids = list(range(ROWS))
    k = {i: i % 10 for i in ids}
    prev2: dict[int, tuple[int, int]] = {}
    prev: dict[int, tuple[int, int]] = {i: (i * 2, i % 7) for i in ids}
    for n in range(1, models):
        new: dict[int, tuple[int, int]] = {}
        for i, (v, _w) in prev.items():
            if i == n:
                continue
            if n == 1:
                new[i] = (v + 1, (v + k[i]) % 7)
            else:
                b = prev2.get(i)
                new[i] = (v + (b[1] if b else 0), (v + k[i]) % 7)
        prev2, prev = prev, new
    return len(prev), sum(v for v, _ in prev.values())


# -- processes ---------------------------------------------------------------------
