"""The web app in a real browser: Debian's headless Chromium driven by Selenium.

One served project (the golden retailer, a password per reference user, the
server under Uvicorn on a free port) and one browser for the whole module. Each
test signs in as a reference user and checks what a person would see; pages are
written as screenshots to docs/screenshots/ for the README.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from conftest import require_server
from served import USER_OF, Served, build_served, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "browser test password"
RANGE = "from=2025-01-06&to=2025-01-19&grain=week&compare=1"
TEAMS = {  # role → its user and its dashboard
    "sales": "sales",
    "marketing": "marketing",
    "operations": "operations",
    "support": "support",
    "finance": "finance",
}

webdriver = pytest.importorskip("selenium.webdriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    require_server("chromium", "`make setup` installs Debian's chromium and chromium-driver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def base_url(shop: Served) -> Iterator[str]:
    """The project served by Uvicorn in a thread of this process, on a free port."""
    with shop.project() as project:
        project.signin.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for user in USER_OF.values():
            project.signin.set_password(user, PASSWORD)
        with serving(project, services=False) as base:
            yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, quit when the generator ends."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    )
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(browser: Any, base_url: str, user: str, password: str = PASSWORD) -> None:
    """Sign out whoever is signed in, then sign in as ``user`` through the form."""
    browser.delete_all_cookies()
    browser.get(f"{base_url}/signin")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form.card button[type=submit]").click()
    # the answer has come when a session cookie is set or the form says what was wrong
    _wait(
        lambda: (
            browser.get_cookie("weir_session") is not None
            or bool(browser.find_elements(By.CSS_SELECTOR, ".problem"))
        )
    )


def ready(browser: Any) -> None:
    """Wait until the page's script ran (charts drawn)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if browser.execute_script("return document.body.dataset.ready") == "true":
            return
        time.sleep(0.05)
    raise AssertionError(f"the page's script did not finish: {browser.current_url}")


def screenshot(browser: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(max(height + 40, 800), 3000))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    browser.set_window_size(1400, 1100)


def api_value(base_url: str, shop: Served, role: str, kpi: str) -> Any:
    params = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week"}
    params["compare"] = "previous_period"
    answer = httpx.get(f"{base_url}/api/v1/kpis/{kpi}", params=params, headers=shop.headers(role))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = [column["name"] for column in body["columns"]]
    return body["rows"][-1][names.index("value")]


@pytest.mark.parametrize("role", sorted(TEAMS))
def test_each_team_signs_in_and_finds_its_numbers(
    browser: Any, base_url: str, shop: Served, role: str
) -> None:
    sign_in(browser, base_url, USER_OF[role])
    assert browser.current_url == f"{base_url}/"
    browser.get(f"{base_url}/dashboards/{TEAMS[role]}?{RANGE}")
    ready(browser)
    tiles = browser.find_elements(By.CSS_SELECTOR, "[data-kpi]")
    assert tiles, "no KPI tiles"
    for tile in tiles:
        kpi, value = tile.get_attribute("data-kpi"), tile.get_attribute("data-value")
        expected = api_value(base_url, shop, role, kpi)
        assert (float(value) if value else None) == expected, kpi
    # every chart is drawn (ECharts' SVG) and every chart and table has its CSV
    for plot in browser.find_elements(By.CSS_SELECTOR, "[data-chart]"):
        assert plot.find_elements(By.TAG_NAME, "svg"), plot.get_attribute("data-chart")
    exports = browser.find_elements(By.LINK_TEXT, "Export CSV")
    assert len(exports) >= len(tiles)
    screenshot(browser, f"dashboard-{TEAMS[role]}")
    # another team's dashboard is not found, and not in the top bar
    other = next(board for r, board in TEAMS.items() if r != role)
    assert browser.find_elements(By.CSS_SELECTOR, f'nav a[href="/dashboards/{other}"]') == []
    browser.get(f"{base_url}/dashboards/{other}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"


def test_a_filter_and_a_drill_down_change_the_numbers(
    browser: Any, base_url: str, shop: Served
) -> None:
    sign_in(browser, base_url, "sam")
    browser.get(f"{base_url}/dashboards/sales?{RANGE}")
    ready(browser)
    before = _tile(browser, "net_sales")
    # choosing a region in the filter row applies it (the script submits the form)
    select = browser.find_element(By.CSS_SELECTOR, 'select[name="region"]')
    select.find_element(By.CSS_SELECTOR, 'option[value="North"]').click()
    _wait(lambda: "region=North" in browser.current_url)
    ready(browser)
    north = _tile(browser, "net_sales")
    assert 0 < north < before
    # the bar chart of regions now shows North's stores: the drill-down
    titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, ".chart h2")]
    assert "Net sales by store id in North" in titles
    screenshot(browser, "dashboard-sales-north")


def test_a_wrong_password_is_refused_and_audited(browser: Any, base_url: str, shop: Served) -> None:
    sign_in(browser, base_url, "sam", "not the password at all")
    assert browser.current_url.startswith(f"{base_url}/signin")
    problem = browser.find_element(By.CSS_SELECTOR, ".problem").text
    assert "not right" in problem
    screenshot(browser, "signin-refused")
    with shop.project() as project:
        refused = project.audit.records("signin", "sam", allowed=False, limit=1)[0]
    assert refused.entry.reason == "refused: the user name or the password is not right"


def test_a_charts_export_link_gives_the_rows_it_draws(
    browser: Any, base_url: str, shop: Served
) -> None:
    sign_in(browser, base_url, "fay")
    browser.get(f"{base_url}/dashboards/finance?{RANGE}")
    ready(browser)
    card = browser.find_element(By.ID, "chart-1-card")
    href = card.find_element(By.LINK_TEXT, "Export CSV").get_attribute("href")
    session = browser.get_cookie("weir_session")["value"]
    exported = httpx.get(href, cookies={"weir_session": session})
    assert exported.status_code == 200
    lines = exported.text.strip().splitlines()
    assert lines[0].split(",")[:3] == ['"period"', '"channel"', '"value"']
    # the rows the chart's table view shows, one per line of the CSV
    card.find_element(By.TAG_NAME, "summary").click()
    shown = card.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert len(shown) == len(lines) - 1 > 0


def test_a_tile_explains_itself_in_one_click(browser: Any, base_url: str, shop: Served) -> None:
    sign_in(browser, base_url, "ada")
    browser.get(f"{base_url}/dashboards/sales?{RANGE}")
    ready(browser)
    tile = browser.find_element(By.CSS_SELECTOR, '[data-kpi="net_sales"]')
    value = float(tile.get_attribute("data-value"))
    url = browser.current_url
    tile.find_element(By.LINK_TEXT, "Why this number?").click()
    _wait(lambda: bool(browser.find_elements(By.ID, "explain-panel")))
    assert browser.current_url == url  # htmx put the panel in the page: no navigation
    found = browser.find_element(By.ID, "explain-panel")
    assert found.find_element(By.CSS_SELECTOR, ".definition").text == (
        "Sum of POS revenue minus discounts"
    )
    assert 'FROM "marts"."sales_daily"' in found.find_element(By.CSS_SELECTOR, "pre.sql").text
    sources = [a.text for a in found.find_elements(By.CSS_SELECTOR, ".lineage-list a.source")]
    assert "staging.pos.revenue" in sources
    shown = [
        int(row.get_attribute("data-snapshot"))
        for row in found.find_elements(By.CSS_SELECTOR, "#explain-snapshots tr[data-snapshot]")
    ]
    with shop.project() as project:
        kept = {s.snapshot_id for s in project.lake.snapshots("marts", "sales_daily")}
    assert shown and set(shown) <= kept
    screenshot(browser, "explain-panel")
    # the link answers the same value again, as of those snapshots
    found.find_element(By.CSS_SELECTOR, "a.reproduce").click()
    _wait(lambda: "/kpis/net_sales" in browser.current_url)
    assert "as_of=" in browser.current_url
    again = browser.find_element(By.CSS_SELECTOR, ".value[data-value]").get_attribute("data-value")
    assert float(again) == value == 736.0  # the golden week of 2025-01-13


def test_the_dashboard_and_a_chart_download_as_png(
    browser: Any, base_url: str, tmp_path: Path
) -> None:
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    sign_in(browser, base_url, "fay")
    browser.get(f"{base_url}/dashboards/finance?{RANGE}")
    ready(browser)
    # the page's width at 1 pixel a CSS pixel, and its height
    width, height = browser.execute_script(
        "const m = document.getElementById('main'); return [m.offsetWidth, m.offsetHeight]"
    )
    browser.find_element(By.CSS_SELECTOR, "[data-board-png]").click()
    board = _downloaded(tmp_path, "finance-2025-01-06-2025-01-19.png")
    assert _png_size(board) == (width, height)
    assert len(board) > 20_000  # tiles, charts and tables, not an empty picture
    browser.find_element(By.CSS_SELECTOR, '[data-chart-png="chart-1"]').click()
    chart = _downloaded(tmp_path, "finance-chart-1.png")
    plot = browser.find_element(By.CSS_SELECTOR, '[data-chart="chart-1"]')
    assert _png_size(chart) == (plot.size["width"] * 2, plot.size["height"] * 2)
    assert len(chart) > 5_000
    # Print / PDF: the print stylesheet leaves out the top bar, the filters and the buttons
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        for hidden in (".topbar", "form.filters", "[data-print]", ".tile .why"):
            assert not browser.find_element(By.CSS_SELECTOR, hidden).is_displayed(), hidden
        assert browser.find_element(By.CSS_SELECTOR, ".tiles").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def _downloaded(folder: Path, name: str) -> bytes:
    path = folder / name
    _wait(lambda: path.exists() and path.stat().st_size > 0, seconds=30)
    return path.read_bytes()


def _png_size(data: bytes) -> tuple[int, int]:
    """The width and height a PNG's header gives (the signature checked)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_markup_is_shown_as_text(browser: Any, base_url: str) -> None:
    attack = '<img src=x id="injected"><script>window.pwned=1</script>'
    sign_in(browser, base_url, attack, "whatever it is")
    assert browser.find_elements(By.ID, "injected") == []
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_element(By.ID, "user").get_attribute("value") == attack[:63]
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text


def _tile(browser: Any, kpi: str) -> float:
    tile = browser.find_element(By.CSS_SELECTOR, f'[data-kpi="{kpi}"]')
    return float(tile.get_attribute("data-value"))


def _wait(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
