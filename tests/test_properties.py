"""Invariants that must hold for any input: every record is accounted for, once."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import weir
from weir.lake import local_path

POS_HEADER = [
    "transaction_id",
    "store_id",
    "product_id",
    "quantity",
    "revenue",
    "discount_applied",
    "timestamp",
    "customer_id",
    "card_number",
]

# Each field is a valid value most of the time, and sometimes each kind of dirt.
ints = st.one_of(
    st.integers(1, 500).map(str),
    st.just(""),
    st.just("abc"),
    st.just("0"),
    st.just("-3"),
    st.just("1.5"),
)
money = st.one_of(
    st.floats(0, 500, allow_nan=False).map(lambda v: f"{v:.2f}"),
    st.just(""),
    st.just("x"),
    st.just("-1"),
)
moments = st.one_of(
    st.floats(1_700_000_000, 1_750_000_000).map(lambda v: f"{v:.3f}"),
    st.just(""),
    st.just("2099999999"),
    st.just("yesterday"),
)
cards = st.one_of(
    st.just(""), st.just("4111111111111111"), st.just("5500 0000 0000 0004"), st.just("12")
)
ids = st.integers(0, 40).map(lambda i: f"T{i:04d}")
rows = st.tuples(ids, ints, ints, ints, money, money, moments, ints, cards)
lines = st.one_of(
    rows.map(list),
    st.lists(st.text("abc,19", max_size=6), min_size=1, max_size=4).map(
        lambda parts: ["MALFORMED", *parts]
    ),
)


def _csv(records: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(POS_HEADER)
    for record in records:
        writer.writerow(record)
    return out.getvalue()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(lines, min_size=0, max_size=30), min_size=1, max_size=3))
def test_every_record_is_accounted_for(tmp_path_factory, batches: list[list[list[str]]]) -> None:
    root = tmp_path_factory.mktemp("prop") / "shop"
    weir.init_project(root)
    landing = root / "landing" / "pos"
    landing.mkdir(parents=True)
    project = weir.Project(root)
    try:
        total_received = 0
        for number, records in enumerate(batches):
            (landing / f"pos_2025-01-0{number + 1}_store001.csv").write_text(_csv(records))
            [result] = project.sources.ingest(["pos"])
            c = result.counts
            data_lines = len(records)
            assert c.received == data_lines
            assert c.received == c.accepted + c.quarantined + c.duplicates
            total_received += c.received
        [status] = [s for s in project.sources.status() if s.source == "pos"]
        assert status.totals.received == total_received
        assert status.totals.reconciles()
        if total_received:
            by_status = project.sql(
                "SELECT _status, count(*) AS n FROM raw.pos GROUP BY 1"
            ).to_pylist()
            counts = {r["_status"]: r["n"] for r in by_status}
            assert sum(counts.values()) == total_received
            assert counts.get("accepted", 0) == status.totals.accepted
            assert counts.get("quarantined", 0) == status.totals.quarantined
            assert counts.get("duplicate", 0) == status.totals.duplicates
            staged = project.sql(
                "SELECT count(*) AS n, count(DISTINCT transaction_id) AS k FROM staging.pos"
            ).to_pylist()[0]
            assert staged["n"] == staged["k"] == status.totals.accepted
            held = project.sql("SELECT count(*) AS n FROM quarantine.pos").to_pylist()[0]["n"]
            assert held == status.totals.quarantined
            text = "".join(
                p.read_bytes().decode("latin-1") for p in (root / ".weir").rglob("*") if p.is_file()
            )
            assert "4111111111111111" not in text and "5500 0000 0000 0004" not in text
    finally:
        project.close()
        shutil.rmtree(root, ignore_errors=True)


def test_reasons_are_json_serialisable(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    weir.init_project(root)
    (root / "landing" / "pos").mkdir(parents=True)
    (root / "landing" / "pos" / "pos_2025-01-01_store001.csv").write_text(
        _csv([["T1", "abc", "", "0", "-1", "9", "2099999999", "x", "4111111111111111"]])
    )
    with weir.Project(root) as project:
        project.sources.ingest(["pos"])
        reasons = project.sql("SELECT _reasons FROM quarantine.pos").to_pylist()[0]["_reasons"]
    assert json.loads(json.dumps(reasons)) == reasons
    assert any("store_id" in r for r in reasons) and any("future" in r for r in reasons)


# Any file name a POSIX folder can hold: no "/" and no NUL (surrogates cannot be written as UTF-8).
path_parts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1
).filter(lambda part: part not in (".", ".."))


@given(st.lists(path_parts, min_size=1, max_size=4))
def test_a_lake_location_is_its_local_path_as_a_plain_path_or_a_file_uri(
    parts: list[str],
) -> None:
    path = str(Path("/", *parts))
    assert local_path(path) == path
    assert local_path(Path(path).as_uri()) == path  # a catalog made by earlier versions


def _line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)  # a field holding a newline is quoted
    return out.getvalue().removesuffix("\n")


pos_text = _line
VALID_REST = ["1", "10", "1", "9.99", "", "1735732800", "", ""]


# A malformed tail: a quote opened in the last record that never closes, so every line after
# it belongs to it; the lines hold no quote, may hold commas, and may be blank.
tails = st.lists(st.text("ab,1 ", max_size=8), min_size=1, max_size=3).map(
    lambda parts: "\n".join(['Q,1,"' + parts[0], *parts[1:]])
)
# records one line each, a record whose quoted id holds a newline, and blank lines (no record)
body_lines = st.one_of(
    lines.map(_line),
    st.tuples(ids, ids).map(lambda two: pos_text([f"{two[0]}\n{two[1]}", *VALID_REST])),
    st.just(""),
)
landed_files = st.tuples(
    st.lists(body_lines, max_size=12), st.one_of(st.none(), tails), st.booleans()
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=st.lists(landed_files, min_size=1, max_size=7))
def test_every_record_of_every_file_is_accounted_for_even_with_malformed_tails(
    tmp_path_factory, files: list[tuple[list[str], str | None, bool]]
) -> None:
    """One batch of up to seven files (a DuckDB scan of five or more loses an open tail).

    Each record of each file must come out once, at the line it starts on
    (blank lines and newlines inside quoted fields counted), as accepted,
    duplicate or quarantined; a record the reader could not split keeps its
    line(s) from the file as its raw text.
    """
    root = tmp_path_factory.mktemp("tails") / "shop"
    weir.init_project(root)
    landing = root / "landing" / "pos"
    landing.mkdir(parents=True)
    expected: dict[tuple[str, int], str] = {}
    for n, (records, tail, final_newline) in enumerate(files):
        name = f"landing/pos/pos_2025-01-0{n + 1}_store001.csv"
        body = [*records, *([tail] if tail is not None else [])]
        text = "\n".join([",".join(POS_HEADER), *body]) + ("\n" if final_newline else "")
        (root / name).write_text(text)
        line = 2  # line 1 is the header
        for record in body:
            if record:
                expected[(name, line)] = record.rstrip("\n")
            line += record.count("\n") + 1
    project = weir.Project(root)
    try:
        [result] = project.sources.ingest(["pos"])
        c = result.counts
        assert c.received == len(expected)
        assert c.accepted + c.quarantined + c.duplicates == c.received
        if not expected:
            return
        kept = project.sql(
            "SELECT _source_file, _offset, _raw, _problem, transaction_id FROM raw.pos"
        ).to_pylist()
        assert sorted((r["_source_file"], r["_offset"]) for r in kept) == sorted(expected)
        for r in kept:
            record = expected[(r["_source_file"], r["_offset"])]
            if r["_raw"] is not None:  # the reader could not split it: its text, as in the file
                assert r["_raw"] == record
                assert r["_problem"]
            else:  # split into fields: the first is the record's own
                assert r["transaction_id"] == next(csv.reader(io.StringIO(record)))[0]
    finally:
        project.close()
        shutil.rmtree(root, ignore_errors=True)
