"""The control panel, quality, catalog, audit and SQL pages in a real browser (headless Chromium).

One served project (``panel_site``, by Uvicorn in a thread with its services, so the
orchestrator runs what the pages queue) and one browser for the module. Each test
signs in with a password, as a person would, and writes a screenshot of the page
it ends on to ``docs/screenshots/``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_web_browser
from argon2 import PasswordHasher
from panel_site import BROKEN_MODEL, FIXED_MODEL, MODEL_FILE, build_panel_site
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from served import Served, serving

import weir

# one headless Debian chromium for the module, set up as the dashboards' browser tests do
browser = test_web_browser.browser
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_panel_site(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def served(site: Served) -> Iterator[tuple[str, weir.Project]]:
    project = weir.Project(site.root)
    project.signin.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    for user in ("ada", "ana"):
        project.signin.set_password(user, PASSWORD)
    with serving(project) as base:
        yield base, project
    project.close()


def sign_in(browser: WebDriver, base: str, user: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/signin")
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)
    wait(browser, 15).until(lambda b: "/signin" not in b.current_url)


def wait(browser: WebDriver, seconds: float = 30) -> WebDriverWait[WebDriver]:
    """Wait for a condition; an element found just before the page was replaced is looked for
    again (a form's answer reloads the page)."""
    return WebDriverWait(
        browser,
        seconds,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )


def shoot(browser: WebDriver, name: str) -> None:
    """The whole page (beyond the window), as a PNG for the docs."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = browser.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    (SHOTS / f"panel-{name}.png").write_bytes(base64.b64decode(shot["data"]))


def status_of(browser: WebDriver) -> str:
    # read in one script: the page's refresh can replace the element between a lookup
    # and a read of its attribute
    return str(
        browser.execute_script(
            "const s = document.getElementById('run-status'); return s && s.dataset.status;"
        )
    )


def test_admin_reruns_a_failed_run_and_watches_it_succeed(
    browser: WebDriver, served: tuple[str, weir.Project], site: Served
) -> None:
    base, project = served
    (site.root / MODEL_FILE).write_text(BROKEN_MODEL, encoding="utf-8")
    failing = project.runs.trigger(select=["marts.panel_check"], by="ada")
    sign_in(browser, base, "ada")
    browser.get(f"{base}/panel/runs/{failing.run_id}")
    # the page refreshes itself until the run ends
    wait(browser).until(lambda b: status_of(b) == "failed")
    assert "no_such_column" in browser.find_element(By.ID, "steps").text
    shoot(browser, "run-failed")

    (site.root / MODEL_FILE).write_text(FIXED_MODEL, encoding="utf-8")
    browser.find_element(By.ID, "rerun-failed").click()
    wait(browser).until(lambda b: f"/panel/runs/{failing.run_id}" not in b.current_url)
    wait(browser).until(lambda b: status_of(b) == "succeeded")
    rerun = project.runs.get(int(browser.current_url.rsplit("/", 1)[1]))
    assert (rerun.status, rerun.parent_run, rerun.triggered_by) == (
        "succeeded",
        failing.run_id,
        "ada",
    )
    shoot(browser, "run-succeeded")
    browser.get(f"{base}/panel")
    rows = browser.find_elements(By.CSS_SELECTOR, f'#runs tr[data-run="{rerun.run_id}"]')
    assert rows and rows[0].get_attribute("data-status") == "succeeded"
    shoot(browser, "runs")


def test_admin_pauses_a_schedule(browser: WebDriver, served: tuple[str, weir.Project]) -> None:
    base, project = served
    sign_in(browser, base, "ada")
    browser.get(f"{base}/panel/schedules")
    browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Pause pos_daily"]').click()
    wait(browser).until(
        lambda b: b.find_element(By.ID, "schedule-pos_daily").get_attribute("data-paused") == "true"
    )
    assert project.schedules.get("pos_daily").paused
    shoot(browser, "schedules")
    browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Resume pos_daily"]').click()
    wait(browser).until(
        lambda b: (
            b.find_element(By.ID, "schedule-pos_daily").get_attribute("data-paused") == "false"
        )
    )


def test_admin_replays_quarantined_records(
    browser: WebDriver, served: tuple[str, weir.Project]
) -> None:
    base, project = served

    def held() -> int:
        return next(s.held for s in project.sources.status() if s.source == "crm_interactions")

    before = held()
    sign_in(browser, base, "ada")
    browser.get(f"{base}/panel/quarantine/crm_interactions")
    shoot(browser, "quarantine")
    browser.find_element(By.ID, "replay").click()
    outcome = wait(browser).until(lambda b: b.find_element(By.ID, "replayed")).text
    released = before - held()
    assert outcome.startswith(f"Replayed: {released} record(s) now pass")
    assert f"{held()} still held" in outcome
    browser.get(f"{base}/panel/sources")
    shoot(browser, "sources")


def test_sql_console_masks_personal_data_for_a_role_without_pii(
    browser: WebDriver, served: tuple[str, weir.Project]
) -> None:
    base, project = served
    query = "SELECT customer_id, email FROM warehouse.dim_customer ORDER BY customer_id LIMIT 5"
    clear = project.sql(query).column("email").to_pylist()
    assert all("@" in value for value in clear)
    sign_in(browser, base, "ana")  # analyst: personal data hashed
    browser.get(f"{base}/sql")
    editor = browser.find_element(By.ID, "sql")
    editor.send_keys(query)
    editor.send_keys(Keys.CONTROL, Keys.ENTER)  # the console's shortcut
    wait(browser).until(lambda b: b.find_elements(By.ID, "timing"))
    cells = [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#result tbody tr")
    ]
    assert len(cells) == 5
    assert all(cell and "@" not in cell and cell not in clear for cell in cells)
    shoot(browser, "sql")


def test_a_non_admin_gets_not_found_for_the_audit_page(
    browser: WebDriver, served: tuple[str, weir.Project]
) -> None:
    base, _ = served
    sign_in(browser, base, "ana")
    assert not browser.find_elements(By.CSS_SELECTOR, 'header a[href="/audit"]')
    browser.get(f"{base}/audit")
    assert browser.title.startswith("Not found")
    sign_in(browser, base, "ada")
    browser.get(f"{base}/audit?verify=true")
    assert browser.find_element(By.ID, "verified").get_attribute("data-ok") == "true"
    shoot(browser, "audit")


def test_catalog_lineage_and_quality_pages(
    browser: WebDriver, served: tuple[str, weir.Project]
) -> None:
    base, _ = served
    sign_in(browser, base, "ada")
    browser.get(f"{base}/catalog/marts.sales_daily?column=net_sales")
    node = browser.find_element(By.CSS_SELECTOR, 'a[data-node="staging.pos.revenue"]')
    shoot(browser, "lineage")
    node.click()  # follow the lineage upstream
    wait(browser).until(lambda b: "/catalog/staging.pos" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, 'tr[data-column="revenue"]')
    browser.get(f"{base}/catalog")
    shoot(browser, "catalog")
    browser.get(f"{base}/quality")
    assert browser.find_element(By.ID, "rules")
    shoot(browser, "quality")
