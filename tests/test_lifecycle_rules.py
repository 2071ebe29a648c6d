"""A retention rule's age SQL, for any row: exactly the rows older than the cut-off are taken.

For raw and quarantine the event time is the text received (typed as the
contract types it); a row whose time is missing or does not parse counts from
when its batch was received. Checked against the same rule worked in Python.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.engine import DuckDBEngine
from weir.lifecycle.rules import TableRule
from weir.project import load_project
from weir.project.retention import RetentionRule
from weir.workspace import init_project

EXAMPLE = load_project(init_project(Path(tempfile.mkdtemp()) / "shop"))  # its files only
POS = EXAMPLE.sources["pos"]
ENGINE = DuckDBEngine()
BASE = datetime(2025, 1, 1, tzinfo=UTC)

moments = st.integers(min_value=0, max_value=60 * 86400).map(lambda s: BASE + timedelta(seconds=s))
texts = st.one_of(
    moments.map(lambda m: str(int(m.timestamp()))),
    st.sampled_from(["", "soon", "12:00", "1e30", "-"]),
    st.none(),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(texts, moments), min_size=1, max_size=30),
    now=moments,
    keep_days=st.integers(min_value=1, max_value=40),
    age=st.sampled_from(["received", "event"]),
)
def test_raw_rows_older_than_the_cutoff_and_only_those_are_taken(
    rows: list[tuple[str | None, datetime]], now: datetime, keep_days: int, age: str
) -> None:
    rule = TableRule("raw", POS, RetentionRule(keep=f"{keep_days}d", age=age))  # type: ignore[arg-type]
    cutoff = now - timedelta(days=keep_days)
    table = pa.table(
        {
            "n": pa.array(range(len(rows)), pa.int64()),
            "timestamp": pa.array([t for t, _ in rows], pa.string()),
            "_received_at": pa.array([r for _, r in rows], pa.timestamp("us", tz="UTC")),
        }
    )
    with ENGINE.writer() as session:
        session.register("t", table)
        taken = {
            n for (n,) in session.execute(f"SELECT n FROM t WHERE {rule.where(cutoff)}").fetchall()
        }

    def moment(text: str | None, received: datetime) -> datetime:
        if age == "event" and text is not None and text.strip().lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        return received

    expected = {n for n, (text, received) in enumerate(rows) if moment(text, received) < cutoff}
    assert taken == expected
