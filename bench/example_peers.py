"""The example project's own models, translated once into a dbt project and a SQLMesh project.

weir's models name tables by two parts (``staging.pos``, ``warehouse.dim_store``)
and read an incremental interval through ``$start`` and ``$end``. Translated:

- a ``staging.x`` table becomes a dbt ``source('staging', 'x')``; a model
  ``warehouse.x`` or ``marts.x`` becomes ``ref('x')``, built into the schema of
  its folder (a ``generate_schema_name`` macro keeps the name as it is); SQLMesh
  keeps the two-part names, the staging tables being external tables;
- ``full`` → dbt ``table`` / SQLMesh ``FULL``;
- ``incremental_by_time`` → dbt ``incremental`` (``delete+insert`` on the time
  column; ``$start`` is the newest day in the table minus the model's lookback,
  as weir's watermark minus lookback, and the first build reads everything) /
  SQLMesh ``INCREMENTAL_BY_TIME_RANGE`` (``time_column``, the same ``lookback``;
  ``$start`` → ``@start_ds``, the exclusive ``$end`` → the day after the
  inclusive ``@end_ds``);
- ``scd2`` → NOT a dbt snapshot nor SQLMesh ``SCD_TYPE_2``: both version an
  entity by the time of each run and take one row per key per run, so they
  cannot rebuild the history from a backlog of daily extracts, as weir's scd2
  does from every extract date. The translation is a dbt ``table`` / SQLMesh
  ``FULL`` model holding weir's own versioning SQL (``kinds.scd2_sql``), so the
  dimensions, and the facts that join them, are the same in the three tools.

Not translated: weir's audits (write-audit-publish). weir's build runs them;
the peers' builds run no tests or audits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import weir
from weir.transform.kinds import scd2_sql
from weir.transform.model import Model, load_models

EXAMPLE = Path(weir.__file__).parent / "demo" / "example"
TABLE = re.compile(r"\b(staging|warehouse|marts)\.([a-z][a-z0-9_]*)\b")
OPEN_START = "DATE '1970-01-01'"
OPEN_END = "DATE '9999-12-31'"


@dataclass(frozen=True)
class Translated:
    """One model of the example project as each peer holds it."""

    name: str  # namespace.table
    kind: str  # weir's kind
    dbt: str  # what dbt builds it as
    sqlmesh: str  # what SQLMesh builds it as
    equivalent: bool


def example_models(waiting: Collection[str] = ()) -> dict[str, Model]:
    """The example's models but those ``waiting`` (their sources not ingested: weir builds none)."""
    return {name: m for name, m in load_models(EXAMPLE).items() if name not in waiting}


def _tables(sql: str, spell: Callable[[str, str], str]) -> str:
    return TABLE.sub(lambda m: spell(m.group(1), m.group(2)), sql)


def _body(model: Model, scd2_columns: dict[str, list[str]]) -> str:
    if model.kind == "scd2":
        return scd2_sql(model, scd2_columns[model.name]).strip()
    return model.sql


def dbt_project(
    root: Path, database: Path, scd2_columns: dict[str, list[str]], waiting: Collection[str] = ()
) -> list[Translated]:
    """Write the dbt project at ``root`` building into ``database``; what each model became."""
    models = example_models(waiting)
    (root / "macros").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(
        "name: example\nversion: '1.0'\nconfig-version: 2\nprofile: example\n"
        "model-paths: [models]\nmacro-paths: [macros]\n"
        "flags:\n  send_anonymous_usage_stats: false\n  partial_parse: true\n"
        "models:\n  example:\n"
        "    warehouse:\n      +schema: warehouse\n"
        "    marts:\n      +schema: marts\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(
        "example:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: '{database}'\n      schema: main\n      threads: 1\n"
        "      settings:\n        TimeZone: UTC\n",
        encoding="utf-8",
    )
    (root / "macros" / "schema.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "{{ custom_schema_name | trim if custom_schema_name else target.schema }}\n"
        "{%- endmacro %}\n",
        encoding="utf-8",
    )
    staging = sorted(
        {
            d.split(".", 1)[1]
            for m in models.values()
            for d in m.depends_on
            if d.startswith("staging.")
        }
    )
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: staging\n    schema: staging\n    tables:\n"
        + "".join(f"      - name: {name}\n" for name in staging),
        encoding="utf-8",
    )
    done = []
    for model in models.values():

        def spell(layer: str, name: str) -> str:
            if layer == "staging":
                return f"{{{{ source('staging', '{name}') }}}}"
            return f"{{{{ ref('{name}') }}}}"

        body = _tables(_body(model, scd2_columns), spell)
        if model.kind == "incremental_by_time":
            column = str(model.header.time_column)
            start = (
                f"(SELECT max(CAST({column} AS DATE)) - INTERVAL {model.header.lookback} DAY "
                'FROM " ~ this ~ ")'
            )
            body = body.replace("$start", "{{ start }}").replace("$end", "{{ end }}")
            text = (
                "{{ config(materialized='incremental', incremental_strategy='delete+insert', "
                f"unique_key='{column}') }}}}\n"
                f'{{% if is_incremental() %}}{{% set start = "{start}" %}}'
                f'{{% else %}}{{% set start = "{OPEN_START}" %}}{{% endif %}}\n'
                f'{{% set end = "{OPEN_END}" %}}\n'
                f"SELECT * FROM (\n{body}\n) AS model\n"
                f"WHERE {column} >= CAST({{{{ start }}}} AS DATE) "
                f"AND {column} < CAST({{{{ end }}}} AS DATE)\n"
            )
        else:
            text = "{{ config(materialized='table') }}\n" + body + "\n"
        folder = root / "models" / model.namespace
        folder.mkdir(exist_ok=True)
        (folder / f"{model.table}.sql").write_text(text, encoding="utf-8")
        done.append(_translated(model))
    return done


def sqlmesh_project(
    root: Path,
    database: Path,
    start: str,
    scd2_columns: dict[str, list[str]],
    waiting: Collection[str] = (),
) -> list[Translated]:
    """Write the SQLMesh project at ``root`` building into ``database``, backfilling from ``start``."""
    models = example_models(waiting)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(
        "gateways:\n  local:\n    connection:\n      type: duckdb\n"
        f"      database: '{database}'\n      concurrent_tasks: 1\n"
        "      connector_config:\n        TimeZone: UTC\n"
        "default_gateway: local\n"
        f"model_defaults:\n  dialect: duckdb\n  start: '{start}'\n  cron: '@daily'\n"
        "disable_anonymized_analytics: true\n",
        encoding="utf-8",
    )
    done = []
    for model in models.values():
        body = _body(model, scd2_columns)
        if model.kind == "incremental_by_time":
            body = body.replace("CAST($end AS DATE)", "(CAST(@end_ds AS DATE) + 1)")
            body = body.replace("$start", "@start_ds")
            kind = (
                f"INCREMENTAL_BY_TIME_RANGE (time_column {model.header.time_column}, "
                f"lookback {model.header.lookback})"
            )
        else:
            kind = "FULL"
        header = f"MODEL (\n  name {model.name},\n  kind {kind}\n);\n\n"
        (root / "models" / f"{model.namespace}__{model.table}.sql").write_text(
            header + body + "\n", encoding="utf-8"
        )
        done.append(_translated(model))
    return done


def _translated(model: Model) -> Translated:
    if model.kind == "scd2":
        return Translated(model.name, model.kind, "table", "FULL", False)
    dbt = "incremental (delete+insert by day)" if model.kind == "incremental_by_time" else "table"
    sqlmesh = "INCREMENTAL_BY_TIME_RANGE" if model.kind == "incremental_by_time" else "FULL"
    return Translated(model.name, model.kind, dbt, sqlmesh, True)
