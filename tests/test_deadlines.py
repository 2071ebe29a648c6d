"""Query timeouts: one deadline thread calls what is due, in order, and never what was cancelled."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from weir.lake.query import TIMEOUTS, Deadlines


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=20), st.booleans()), min_size=1, max_size=12
    )
)
def test_due_callbacks_run_in_deadline_order_and_cancelled_ones_never(
    plan: list[tuple[int, bool]],
) -> None:
    deadlines = Deadlines()
    fired: list[int] = []
    done = threading.Event()
    kept = [i for i, (_, cancel) in enumerate(plan) if not cancel]
    with deadlines._wake:  # register every one before the thread can run any
        ids = [
            deadlines.after(ms / 1000, lambda i=i: fired.append(i))
            for i, (ms, _) in enumerate(plan)
        ]
        due = {ident: (at, ident) for at, ident, _ in deadlines._heap}
        for ident, (_, cancel) in zip(ids, plan, strict=True):
            if cancel:
                deadlines.cancel(ident)
    deadlines.after(0.03, done.set)  # after every other deadline
    assert done.wait(10)
    assert sorted(fired) == kept
    assert fired == sorted(kept, key=lambda i: due[ids[i]])


def test_a_failing_callback_stops_no_other() -> None:
    deadlines = Deadlines()
    done = threading.Event()
    deadlines.after(0, lambda: 1 / 0)
    deadlines.after(0.001, done.set)
    assert done.wait(10)


def test_many_timeouts_share_one_thread() -> None:
    before = threading.active_count()
    ids = [TIMEOUTS.after(30, lambda: None) for _ in range(200)]
    assert threading.active_count() <= before + 1
    for ident in ids:
        TIMEOUTS.cancel(ident)
    assert len(TIMEOUTS._heap) <= 64
