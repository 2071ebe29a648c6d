"""A live dashboard in a real browser: events arrive through the collector, the tile changes.

A golden retailer of this module's own (its tests write to it), served with its
services (the collector's flusher) by Uvicorn; the marketing dashboard looks
for new data every second. While the page is open, a new session's events are
posted to the collector, land in the lake, and the web models are built (what
the example's ``web_models`` schedule does after new web events): the sessions
tile changes without the page being loaded again. A look that finds nothing
new is answered 204, with no body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from selenium.webdriver.common.by import By
from served import USER_OF, Served, build_served, serving
from test_web_browser import PASSWORD, _wait, chromium, ready, sign_in

import weir
from weir.serve.web.shell import CSP

RANGE = "from=2025-01-06&to=2025-01-19&grain=week&compare=1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture(scope="module")
def live_shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    shop = build_served(tmp_path_factory.mktemp("live"))
    board = shop.root / "dashboards" / "marketing.yml"
    text = re.sub(r"(?m)^refresh: .*$", "", board.read_text())
    board.write_text(text + "\nrefresh: 1s\n")
    with (shop.root / "weir.yml").open("a", encoding="utf-8") as handle:
        handle.write("\ncollector:\n  flush_seconds: 0.2\n")
    return shop


@pytest.fixture(scope="module")
def live_url(live_shop: Served) -> Iterator[tuple[str, str]]:
    """The served project's base URL and a write key for web_traffic."""
    with live_shop.project() as project:
        project.signin.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for user in USER_OF.values():
            project.signin.set_password(user, PASSWORD)
        key = project.access.write_keys().create(["web_traffic"], "live dashboard test").key
        with serving(project) as base:
            yield base, key


def event(number: int, at: float) -> dict[str, Any]:
    return {
        "event_id": f"live{number}",
        "session_id": "live-session",
        "user_id": 99,  # nobody of the golden data: a session of its own
        "page": "/",
        "device_type": "Desktop",
        "browser": "Firefox",
        "event_type": "View",
        "element": None,
        "timestamp": at,
    }


def test_a_dashboard_over_streamed_data_refreshes_on_its_own(
    browser: Any, live_url: tuple[str, str], live_shop: Served
) -> None:
    base, key = live_url
    sign_in(browser, base, "mia")
    browser.get(f"{base}/dashboards/marketing?{RANGE}")
    ready(browser)
    poller = browser.find_element(By.ID, "live")
    assert "Live" in poller.text
    before = float(
        browser.find_element(By.CSS_SELECTOR, '[data-kpi="sessions"]').get_attribute("data-value")
    )
    browser.execute_script("window.stayed = true")  # gone if the page were loaded again

    # nothing new: the page's look is answered 204, without a body
    cookies = {"weir_session": browser.get_cookie("weir_session")["value"]}
    look = httpx.get(base + poller.get_attribute("hx-get"), cookies=cookies)
    assert look.status_code == 204 and look.content == b""
    stale = httpx.get(f"{base}/dashboards/marketing/live?{RANGE}&v=old", cookies=cookies)
    assert stale.status_code == 200 and 'id="board-tiles" hx-swap-oob="true"' in stale.text
    assert stale.headers["content-security-policy"] == CSP

    # a new session on Saturday 2025-01-18 at 12:00 UTC, two events, through the collector
    posted = httpx.post(
        f"{base}/collect/v1/web_traffic",
        content=json.dumps([event(1, 1737201600.5), event(2, 1737201630.5)]),
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert posted.status_code in (200, 202), posted.text
    with weir.Project(live_shop.root) as project:
        query = "SELECT count(*) AS n FROM staging.web_traffic WHERE session_id = 'live-session'"
        _wait(lambda: project.sql(query).column("n")[0].as_py() == 2)
        schedule = next(s for s in project.files.config.schedules if s.name == "web_models")
        _, result = project.run(select=schedule.select, ingest=False)
        assert result.ok
    # read by script: the tile is a new element after each change
    value = "return document.querySelector('[data-kpi=\"sessions\"]').dataset.value"
    _wait(lambda: float(browser.execute_script(value)) != before, seconds=30)
    assert float(browser.execute_script(value)) == before + 1  # the one new session
    assert browser.execute_script("return window.stayed === true")
    # the charts of the new numbers are drawn too, and the page says when it changed
    drawn = (
        "return [...document.querySelectorAll('[data-chart]')].every(p => p.querySelector('svg'))"
    )
    _wait(lambda: browser.execute_script(drawn))
    assert "updated" in browser.execute_script("return document.getElementById('live').textContent")


def test_the_live_address_is_for_signed_in_users(live_url: tuple[str, str]) -> None:
    base, _ = live_url
    answer = httpx.get(f"{base}/dashboards/marketing/live?v=x", follow_redirects=False)
    assert answer.status_code == 303


def test_a_dashboard_without_refresh_does_not_poll(browser: Any, live_url: tuple[str, str]) -> None:
    base, _ = live_url
    sign_in(browser, base, "sam")
    browser.get(f"{base}/dashboards/sales?{RANGE}")
    ready(browser)
    assert browser.find_elements(By.ID, "live") == []
