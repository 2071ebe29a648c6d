"""A batch's ``received`` is what its files hold, counted from their bytes, not what a reader returned.

The counts below are worked out by reading each file by eye: a header line,
then one record per line unless a quoted field holds a newline; an empty line
is no record; a quote left open runs to the end of the file as one record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import assert_counts, ingest_one, land, pos_csv, pos_line, rows, web_event
from hypothesis import given, settings
from hypothesis import strategies as st

import weir
from weir.ingest.records import CsvSplitter, csv_records, csv_starts, scan_file
from weir.project import load_project

EXAMPLE = Path(weir.__file__).parent / "demo" / "example"
POS = load_project(EXAMPLE).source("pos")
WEB = load_project(EXAMPLE).source("web_traffic")
UNTERMINATED = 'Q2,1,"5,2,10.50,,1717200000.5,,'


# -- the count, from bytes ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "records"),
    [
        ("", 0),  # the header alone
        ("a\nb\n", 2),
        ("a\nb", 2),  # no newline after the last line
        ("a\n\n\nb\n\n", 2),  # empty lines hold no record
        ("  \n", 1),  # a line of spaces is a (malformed) record
        ('"x\ny",1\nb\n', 2),  # a quoted newline does not end the record
        ('"x""\ny",1\nb\n', 2),  # a doubled quote inside a quoted field is a literal quote
        ('a,b"c\nd\n', 2),  # a quote inside an unquoted field opens nothing
        ('"a"b,1\nc\n', 2),  # text after a closing quote: malformed, but one line
        ('a\n"open,1\nb\nc\n', 2),  # a quote that never closes: the rest is one record
        ('a\n"open\n\n', 2),
    ],
)
def test_csv_records_are_counted_from_the_bytes(tmp_path: Path, body: str, records: int) -> None:
    path = tmp_path / "f.csv"
    for newline in ("\n", "\r\n"):
        path.write_bytes(("h1,h2\n" + body).replace("\n", newline).encode())
        assert scan_file(path, POS).records == records, newline


def test_csv_records_are_counted_across_read_chunks(tmp_path: Path) -> None:
    # 300 000 records of 7 bytes (2.1 MB, three 1 MiB chunks), one quoted newline every 1000
    lines = [f'"{i:03d}\n",x' if i % 1000 == 0 else f"{i:06d}" for i in range(300_000)]
    path = tmp_path / "big.csv"
    path.write_text("h\n" + "\n".join(lines) + "\n")
    assert scan_file(path, POS).records == 300_000


def test_utf16_csv_is_counted_over_its_text(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('h1,h2\n"é\n",1\nb\n', encoding="utf-16")
    source = POS.model_copy(update={"csv": POS.csv.model_copy(update={"encoding": "utf-16"})})
    assert scan_file(path, source).records == 2
    assert [(r.line, r.text) for r in csv_records(path, source)] == [(2, '"é\n",1'), (4, "b")]


def test_a_quote_left_open_is_one_record_with_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('h\nfirst\n\nQ,"open\nmore\n\n')
    assert [(r.line, r.text, r.unterminated) for r in csv_records(path, POS)] == [
        (2, "first", False),
        (4, 'Q,"open\nmore', True),  # the blank lines after it are no text of it
    ]


def test_jsonl_counts_lines_that_are_not_blank(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\r\n \t\n{"a": 2}\nnot json')
    assert scan_file(path, WEB).records == 3


# -- an unterminated last line, in a scan of many files -----------------------------------
@pytest.mark.parametrize("files", [1, 4, 5, 8])
def test_unterminated_last_line_is_quarantined_whatever_the_number_of_files(
    project_root: Path, project: weir.Project, files: int
) -> None:
    for n in range(files):
        body = [pos_line(f"T{n}")] + ([UNTERMINATED] if n == files // 2 else [])
        land(project_root, "pos", f"pos_2025-01-0{n + 1}_store001.csv", pos_csv(*body))
    # one record per file, and the unterminated line: files + 1 received
    assert_counts(
        ingest_one(project, "pos"),
        received=files + 1,
        accepted=files,
        quarantined=1,
        duplicates=0,
    )
    [held] = rows(project, "SELECT _source_file, _offset, _raw, _reasons FROM quarantine.pos")
    assert held["_source_file"] == f"landing/pos/pos_2025-01-0{files // 2 + 1}_store001.csv"
    assert (held["_offset"], held["_raw"]) == (3, UNTERMINATED)
    [reason] = held["_reasons"]
    assert reason.startswith("malformed CSV line (")
    with project.store.begin() as db:
        recorded = db.execute(sa.text("SELECT sum(records) FROM weir_files")).scalar_one()
    assert recorded == files + 1  # the ledger keeps each file's own count


def test_unterminated_quote_swallows_the_lines_after_it_into_one_record(
    project_root: Path, project: weir.Project
) -> None:
    for n in range(5):
        body = [pos_line(f"T{n}")]
        if n == 0:
            body += [UNTERMINATED, pos_line("T9"), "", "tail"]
        land(project_root, "pos", f"pos_2025-01-0{n + 1}_store001.csv", pos_csv(*body))
    assert_counts(ingest_one(project, "pos"), received=6, accepted=5, quarantined=1, duplicates=0)
    [held] = rows(project, "SELECT _offset, _raw, _reasons FROM quarantine.pos")
    assert held["_offset"] == 3
    assert held["_raw"] == "\n".join([UNTERMINATED, pos_line("T9"), "", "tail"])
    assert "unterminated quote" in held["_reasons"][0]


def test_jsonl_blank_lines_with_carriage_returns_are_no_records(
    project_root: Path, project: weir.Project
) -> None:
    event = json.dumps(web_event("e1"))
    land(project_root, "web_traffic", "web_2025-01-01.jsonl", f"{event}\r\n\r\n\t\r\n")
    assert_counts(
        ingest_one(project, "web_traffic"), received=1, accepted=1, quarantined=0, duplicates=0
    )


# -- line numbers after consecutive rejected lines ----------------------------------------
@pytest.mark.parametrize("broken", [1, 2, 3])
def test_offset_after_consecutive_rejected_lines(
    project_root: Path, project: weir.Project, broken: int
) -> None:
    # line 1 header, 2 a, 3 .. 2 + broken the broken lines, then b and c
    bad = [f"broken{i}" for i in range(broken)]
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(pos_line("a"), *bad, pos_line("b"), pos_line("c")),
    )
    assert_counts(
        ingest_one(project, "pos"),
        received=3 + broken,
        accepted=3,
        quarantined=broken,
        duplicates=0,
    )
    assert rows(
        project, "SELECT transaction_id, _offset FROM raw.pos WHERE _status = 'accepted' ORDER BY 2"
    ) == [
        {"transaction_id": "a", "_offset": 2},
        {"transaction_id": "b", "_offset": 3 + broken},
        {"transaction_id": "c", "_offset": 4 + broken},
    ]
    held = rows(project, "SELECT _offset, _raw FROM quarantine.pos ORDER BY 1")
    assert [(r["_offset"], r["_raw"]) for r in held] == [(3 + i, bad[i]) for i in range(broken)]


# -- the bulk count agrees with the record-by-record walk -----------------------------------
@settings(max_examples=300, deadline=None)
@given(
    text=st.text('a,"\n\r ', max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=4),
)
def test_the_bulk_count_agrees_with_the_walk_however_the_bytes_arrive(
    text: str, cuts: list[int]
) -> None:
    data = text.encode()
    walked: CsvSplitter[bytes] = CsvSplitter(b"\n", b"\r", b'"', b",", keep=True)
    walked.feed(data)
    expected = walked.finish()
    assert expected == len(walked.kept) + (1 if expected else 0)  # the header is not kept
    counted: CsvSplitter[bytes] = CsvSplitter(b"\n", b"\r", b'"', b",")
    at = 0
    for cut in sorted(cuts):
        counted.feed(data[at:cut])
        at = max(at, cut)
    counted.feed(data[at:])
    assert counted.finish() == expected


def test_line_numbers_count_blank_lines_and_newlines_inside_fields(
    project_root: Path, project: weir.Project
) -> None:
    land(
        project_root,
        "pos",
        "pos_2025-01-01_store001.csv",
        pos_csv(
            pos_line("a"),  # line 2
            "",  # line 3: blank, no record
            pos_line('"multi\nline"'),  # lines 4-5: one record
            "broken",  # line 6 (DuckDB calls it line 5: it skips the newline in the field)
            pos_line("c"),  # line 7
        ),
    )
    assert_counts(ingest_one(project, "pos"), received=4, accepted=3, quarantined=1, duplicates=0)
    assert rows(
        project, "SELECT transaction_id, _offset FROM raw.pos WHERE _status = 'accepted' ORDER BY 2"
    ) == [
        {"transaction_id": "a", "_offset": 2},
        {"transaction_id": "multi\nline", "_offset": 4},
        {"transaction_id": "c", "_offset": 7},
    ]
    [held] = rows(project, "SELECT _offset, _raw FROM quarantine.pos")
    assert (held["_offset"], held["_raw"]) == (6, "broken")


def test_reader_line_numbers_skip_newlines_in_fields(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('h\na\n\n"x\ny"\nb\n"p\n\nq"\nc\n')
    # (DuckDB's line, the file's line) of each record
    starts = csv_starts(path, POS)
    assert list(
        zip(starts["reader_line"].to_pylist(), starts["line"].to_pylist(), strict=True)
    ) == [
        (2, 2),
        (4, 4),
        (5, 6),
        (6, 7),
        (7, 10),
    ]
