"""Every record of every file, accounted for: what a reader lost, and where each record starts.

After the readers fill the text table, each file's rows are checked against
the records counted from its bytes when it was found (``records``): a file
the reader returned fewer rows for gets the missing records quarantined, with
their text, line and reason. A CSV file whose records are not one per line
(blank lines, newlines inside quoted fields) gets its line numbers from its
record starts, since the reader's own numbers skip the newlines in fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from weir.engine import Session
from weir.ingest.ledger import FileEntry
from weir.ingest.readers import insert_lines
from weir.ingest.records import csv_starts, lost_records
from weir.project import SourceConfig


def account_for_files(
    con: Session, source: SourceConfig, table: str, root: Path, files: Sequence[FileEntry]
) -> list[FileEntry]:
    """Every record of every file in ``table``: what the reader did not return is quarantined.

    A file's records were counted from its bytes when it was found; a file the
    reader returned fewer rows for gets the missing records, with their text
    and why (``lost_records``). Returns the files with their record counts.
    """
    returned = dict(
        con.execute(f"SELECT _source_file, count(*) FROM {table} GROUP BY 1").fetchall()
    )
    per_file = _per_file(returned, {str(root / entry.path) for entry in files})
    counted = []
    for entry in files:
        path = root / entry.path
        got = per_file.get(str(path), 0)
        if (
            entry.lines is not None
            and entry.records is not None
            and entry.lines > entry.records + 1
        ):
            _renumber_csv_lines(con, source, table, path)
        records = got if entry.records is None else max(entry.records, got)
        if records > got:

            def returned_since(line: int, path: Path = path) -> set[int]:
                found = con.execute(
                    f"SELECT _offset FROM {table} WHERE _source_file = ? AND _offset >= ?",
                    [str(path), line],
                ).fetchall()
                return {offset for (offset,) in found}

            lost = lost_records(path, source, records, got, returned_since)
            insert_lines(con, lost)
            records = got + lost.num_rows
        counted.append(replace(entry, records=records))
    return counted


def _per_file(returned: dict[str, int], paths: set[str]) -> dict[str, int]:
    """Rows returned per file; a spreadsheet's rows are placed by sheet (``<file>#<sheet>``)."""
    per_file: dict[str, int] = {}
    for name, n in returned.items():
        whole = name
        if name not in paths:
            # the file is the longest prefix before a '#' that names one (either may hold a '#')
            cuts = [at for at, char in enumerate(name) if char == "#" and name[:at] in paths]
            whole = name[: cuts[-1]] if cuts else name
        per_file[whole] = per_file.get(whole, 0) + n
    return per_file


def _renumber_csv_lines(con: Session, source: SourceConfig, table: str, path: Path) -> None:
    """Line numbers for a CSV file whose records are not one per line (blank lines, newlines in fields).

    DuckDB's rejected lines carry its own numbers, which skip the newlines
    inside quoted fields; the file's record starts (``csv_starts``) map them to
    the file's lines, and the parsed records, in order, take the starts that
    were not rejected.
    """
    con.register("weir_starts", csv_starts(path, source))
    malformed = "_problem LIKE 'malformed CSV line%'"
    try:
        con.execute(
            f"""UPDATE {table} SET _offset = numbered.line FROM (
                WITH rejected AS (
                    SELECT _offset AS reader_line FROM {table}
                    WHERE _source_file = $file AND {malformed}),
                free AS (
                    SELECT line, row_number() OVER (ORDER BY reader_line) AS k
                    FROM weir_starts ANTI JOIN rejected USING (reader_line)),
                parsed AS (
                    SELECT rowid AS rid, row_number() OVER (ORDER BY rowid) AS k FROM {table}
                    WHERE _source_file = $file AND coalesce(NOT ({malformed}
                        OR _problem LIKE 'file is not valid%'), true))
                SELECT parsed.rid, free.line FROM parsed JOIN free USING (k)
                UNION ALL
                SELECT t.rowid AS rid, s.line FROM {table} t JOIN weir_starts s
                    ON s.reader_line = t._offset
                WHERE t._source_file = $file AND t.{malformed}
            ) AS numbered WHERE {table}.rowid = numbered.rid""",
            {"file": str(path)},
        )
    finally:
        con.unregister("weir_starts")
