"""A posted body's nesting limit, judged on the parsed values: the same verdict as the text's.

``parse_events`` learns a body's depth from the values ``json.loads`` gave (the
text is scanned only to refuse one); the refusal must come exactly when the
text nests deeper than the limit, and name the depth the text has.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weir.streams.body import MAX_DEPTH, BadBody, parse_events


def depth_of(text: str) -> int:
    """Brackets outside strings, as deep as they go (worked out from the text)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    deepest = level = 0
    for char in bare:
        if char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def nested(levels: int, inner: Any) -> Any:
    for n in range(levels):
        inner = [inner] if n % 2 else {"k": inner, "s": "[{"}
    return inner


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, MAX_DEPTH + 3),
    st.sampled_from([1, "x", None, [], {}]),
    st.booleans(),
)
def test_a_body_is_refused_exactly_when_it_nests_too_deep(
    levels: int, inner: Any, as_array: bool
) -> None:
    event = {"event_id": "e", "p": nested(levels, inner)}
    text = json.dumps([event, {"event_id": "f"}] if as_array else event)
    limit = MAX_DEPTH + as_array
    deepest = depth_of(text)
    if deepest > limit:
        with pytest.raises(BadBody, match=f"nests objects and arrays {deepest} levels deep"):
            parse_events(text.encode(), "application/json")
    else:
        events = parse_events(text.encode(), "application/json")
        expected = [event, {"event_id": "f"}] if as_array else [event]
        assert list(events) == [
            json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in expected
        ]


def test_a_deep_body_that_is_not_json_is_refused_for_its_depth_first() -> None:
    text = '{"p": ' + "[" * 70 + "]" * 69 + "}"  # one bracket short, and too deep
    with pytest.raises(BadBody, match="nests objects and arrays 71 levels deep"):
        parse_events(text.encode(), "application/json")
