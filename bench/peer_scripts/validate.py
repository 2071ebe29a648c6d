"""Check the POS rows against weir's POS contract with pandera or Great Expectations.

    python validate.py pandera|gx FOLDER SPEC.json

Run by the validators' venv's python, not weir's. SPEC is the contract as the
bench wrote it from weir's ``SourceConfig`` (``contract_bench.contract_spec``):
per column its type, required, min, max, accepted values, pattern and
not-future limit, and the record rules, translated by hand into column pairs.

Both tools start from the same text as weir's contract does: every field of
every CSV file as a string (pandas ``read_csv``, ``dtype=str``; a line with a
wrong number of fields is skipped, and so counted here as failing). Timed:
``load`` (the files into one DataFrame) and ``validate`` (the tool's check of
every rule, reporting the failing records). Prints JSON: rows, failing rows
(records that break at least one rule), the two timings and the versions.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

INT_PATTERN = r"^\s*[+-]?[0-9]{1,18}\s*$"
FLOAT_PATTERN = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


def load(folder: Path, names: list[str]) -> tuple[pd.DataFrame, int]:
    """Every file's records as text; and the lines in the files (for the skipped ones)."""
    frames = []
    lines = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open("rb") as handle:
            lines += max(0, sum(1 for _ in handle) - 1)
        frame = pd.read_csv(path, dtype=str, on_bad_lines="skip", keep_default_na=False)
        frames.append(frame.reindex(columns=names))  # a renamed header: the column is missing
    data = pd.concat(frames, ignore_index=True)
    return data.replace({"": None}), lines


# -- pandera -------------------------------------------------------------------------
def pandera_failing(data: pd.DataFrame, spec: dict[str, Any]) -> set[int]:
    import pandera.pandas as pa

    columns = {}
    for column in spec["columns"]:
        checks = []
        if column["min"] is not None:
            checks.append(pa.Check.ge(column["min"]))
        if column["max"] is not None:
            checks.append(pa.Check.le(column["max"]))
        if column["not_future_before"] is not None:
            checks.append(pa.Check.le(column["not_future_before"]))
        if column["enum"] is not None:
            checks.append(pa.Check.isin(column["enum"]))
        if column["regex"] is not None:
            # weir's patterns match the whole value (regexp_full_match)
            checks.append(pa.Check(lambda s, r=column["regex"]: s.str.fullmatch(r), name="pattern"))
        if column["required"] and column["type"] == "string":
            checks.append(pa.Check(lambda s: s.str.strip().str.len() > 0, element_wise=False))
        dtype = {"int": "Int64", "float": float, "epoch": float, "string": str}[column["type"]]
        columns[column["name"]] = pa.Column(
            dtype, checks=checks, nullable=not column["required"], coerce=True
        )
    rules = [
        pa.Check(
            lambda df, a=rule["a"], b=rule["b"]: df[a].isna() | df[b].isna() | (df[a] <= df[b]),
            name=rule["name"],
        )
        for rule in spec["rules"]
    ]
    schema = pa.DataFrameSchema(columns, checks=rules, coerce=True)
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return {int(i) for i in cases["index"].dropna()} if "index" in cases else set()
    return set()


# -- Great Expectations ----------------------------------------------------------------
def gx_failing(data: pd.DataFrame, spec: dict[str, Any]) -> set[int]:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    # GE checks values as they are: the text stays for the type patterns, and the
    # numbers are cast by pandas (part of the timed step) for the ranges and rules.
    typed = data.copy()
    for column in spec["columns"]:
        if column["type"] in ("int", "float", "epoch"):
            typed[column["name"] + "__n"] = pd.to_numeric(data[column["name"]], errors="coerce")
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("pos")
        .add_dataframe_asset("pos")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": typed})
    )
    suite = gx.ExpectationSuite("pos")
    for column in spec["columns"]:
        name, kind = column["name"], column["type"]
        numeric = name + "__n"
        if column["required"]:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if kind == "int":
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(column=name, regex=INT_PATTERN)
            )
        elif kind in ("float", "epoch"):
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(column=name, regex=FLOAT_PATTERN)
            )
        low, high = column["min"], column["max"]
        if column["not_future_before"] is not None:
            high = column["not_future_before"]
        if low is not None or high is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(column=numeric, min_value=low, max_value=high)
            )
        if column["enum"] is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(column=name, value_set=column["enum"])
            )
        if column["regex"] is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToMatchRegex(column=name, regex=column["regex"])
            )
    for rule in spec["rules"]:
        suite.add_expectation(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=rule["b"] + "__n",
                column_B=rule["a"] + "__n",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            )
        )
    suite = context.suites.add(suite)
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    failing: set[int] = set()
    for outcome in result.results:
        failing.update(int(i) for i in outcome.result.get("unexpected_index_list") or [])
    return failing


def main() -> None:
    tool, folder, spec_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    started = time.perf_counter()
    data, lines = load(folder, [c["name"] for c in spec["columns"]])
    loaded = time.perf_counter()
    failing = (pandera_failing if tool == "pandera" else gx_failing)(data, spec)
    validated = time.perf_counter()
    if tool == "pandera":
        import pandera

        version = f"pandera {pandera.__version__}"
    else:
        import great_expectations

        version = f"great-expectations {great_expectations.__version__}"
    print(
        json.dumps(
            {
                "rows": len(data),
                "lines": lines,
                "failing": len(failing),
                "load_seconds": loaded - started,
                "validate_seconds": validated - loaded,
                "version": f"{version}, pandas {pd.__version__}",
            }
        )
    )


if __name__ == "__main__":
    main()
