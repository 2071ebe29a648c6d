"""Hostile bodies at the collector's door, sent at the same time as valid ones.

Whatever a client holding a write key sends (JSON nested thousands deep, lone
surrogate escapes, integers of thousands of digits, times the lake cannot
hold, duplicate keys, NUL characters), the server answers that request alone
with a 4xx or quarantines its events with a reason: every valid request sent
beside it succeeds, the server's memory stays bounded, and afterwards every
acknowledged valid event is in the lake exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import crm_event, rows
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import weir
from weir.serve.app import create_app

SOURCE = "crm_interactions"


def _deep(depth: int) -> str:
    return '{"event_id": "deep", "customer_id": 1, "extra": ' + "[" * depth + "]" * depth + "}"


def _event_text(**fields: Any) -> str:
    return json.dumps(crm_event("hostile", **fields))


HOSTILE = st.one_of(
    st.integers(65, 5000).map(_deep),
    st.sampled_from(["\\ud800", "\\udfff", "\\ud83d"]).map(
        lambda escape: '{"event_id": "sur", "customer_id": 1, "channel": "' + escape + '"}'
    ),
    st.sampled_from(["\\ud800", "\\udc00"]).map(
        lambda escape: '{"event_id": "key", "' + escape + '": 1}'
    ),
    st.integers(4301, 20_000).map(
        lambda digits: '{"event_id": "big", "customer_id": ' + "9" * digits + "}"
    ),
    st.sampled_from([-62135596801, -(10**12), 253402300800, 10**15]).map(
        lambda moment: _event_text(timestamp=moment)
    ),
    st.just('{"event_id": "dup", "event_id": "dup2", "customer_id": 1}'),
    st.just(_event_text(channel="E\u0000mail")),
    st.just('{"event_id": "nan", "customer_id": NaN}'),
)


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[weir.Project, Any, str]]:
    root = weir.init_project(tmp_path_factory.mktemp("hostile") / "shop")
    project = weir.Project(root)
    app = create_app(project)
    key = project.access.write_keys().create([SOURCE]).key
    yield project, app, key
    app.state.collector.close()
    project.close()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example is slow
)
@given(hostile=st.lists(HOSTILE, min_size=1, max_size=4), valid=st.integers(4, 16))
def test_hostile_bodies_fail_alone_and_every_valid_event_lands_once(
    door: tuple[weir.Project, Any, str], hostile: list[str], valid: int
) -> None:
    project, app, key = door
    stamp = f"{time.time_ns()}"
    ids = [f"ok-{stamp}-{n}" for n in range(valid)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def send() -> tuple[list[httpx.Response], list[httpx.Response]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://weir") as client:
            good = [
                client.post(f"/collect/v1/{SOURCE}", json=crm_event(event_id), headers=headers)
                for event_id in ids
            ]
            bad = [
                client.post(f"/collect/v1/{SOURCE}", content=body.encode(), headers=headers)
                for body in hostile
            ]
            answers = await asyncio.gather(*good, *bad)
        return list(answers[:valid]), list(answers[valid:])

    before = _rss_mb()
    good, bad = asyncio.run(send())
    assert _rss_mb() - before < 300, "hostile bodies must not take the server's memory"
    for response in good:
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
    for body, response in zip(hostile, bad, strict=True):
        assert response.status_code < 500, (body[:80], response.text)
        if response.status_code >= 400:
            error = response.json()["error"]
            assert error["message"] and "Traceback" not in error["message"]
    reports = app.state.collector.flush()
    assert all(report.matches_receipts for report in reports)
    landed = rows(
        project,
        "SELECT event_id, count(*) AS n FROM staging.crm_interactions "
        f"WHERE event_id LIKE 'ok-{stamp}-%' GROUP BY 1",
    )
    assert sorted(r["event_id"] for r in landed) == sorted(ids)
    assert all(r["n"] == 1 for r in landed)
