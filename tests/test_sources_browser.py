"""The sources page's Test and Discover in a real browser (headless Chromium), as a person uses
them: htmx brings each answer under the list without reloading the page, an error shows in
place, and Copy puts the proposed contract on the clipboard. Writes
``docs/screenshots/panel-sources-test.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import test_web_browser
from argon2 import PasswordHasher
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from served import serving
from sources_site import WRONG_PASSWORD, SourcesSite, build_sources_site, feeds
from test_web_panel_browser import PASSWORD, shoot, sign_in, wait

import weir

browser = test_web_browser.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SourcesSite]]:
    with feeds() as url:
        site = build_sources_site(tmp_path_factory.mktemp("sources-browser"), url)
        project = weir.Project(site.root)
        project.signin.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for user in ("ada", "otto"):
            project.signin.set_password(user, PASSWORD)
        with serving(project, services=False) as base:
            yield base, site
        project.close()


def press(browser: WebDriver, button: str) -> None:
    """Click a button as a person would: scrolled into the middle of the window first (the
    list's header sticks to the top, over a row scrolled under it)."""
    found = browser.find_element(By.ID, button)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", found)
    found.click()


def outcome(browser: WebDriver, part: str) -> str:
    return str(browser.find_element(By.ID, part).get_attribute("data-outcome"))


def test_test_and_discover_answer_in_place_and_copy_the_contract(
    browser: WebDriver, served: tuple[str, SourcesSite]
) -> None:
    base, _ = served
    sign_in(browser, base, "ada")
    browser.get(f"{base}/panel/sources")
    browser.execute_script("window.weirNotReloaded = true")  # gone if the page reloads

    press(browser, "test-customers")
    wait(browser).until(lambda b: outcome(b, "test-result") == "ok")
    sample = browser.find_element(By.ID, "test-sample")
    assert "(withheld: pii)" in sample.text and "Amira" not in sample.text
    assert browser.execute_script("return window.weirNotReloaded") is True

    press(browser, "test-po_refused")
    wait(browser).until(lambda b: outcome(b, "test-result") == "error")
    said = browser.find_element(By.ID, "test-result").text
    assert "Access denied for user 'root'" in said and "What to do:" in said
    assert WRONG_PASSWORD not in browser.page_source

    browser.find_element(By.ID, "discover-target").send_keys("landing/exports/stores.xlsx")
    press(browser, "discover-run")
    wait(browser).until(lambda b: outcome(b, "discover-result") == "ok")
    proposed = browser.find_element(By.ID, "proposal-text").text
    assert proposed.startswith("name: stores") and "  - {name: store_id, type: int" in proposed
    assert browser.execute_script("return window.weirNotReloaded") is True

    browser.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Browser.grantPermissions",
        {"origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    press(browser, "copy-proposal")
    wait(browser, 10).until(lambda b: b.find_element(By.ID, "copied").text == "Copied")
    copied: Any = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, () => done(null));"
    )
    assert copied is not None and copied.strip() == proposed.strip()

    # the answer of the test above is still shown: the page is whole for the screenshot
    press(browser, "test-customers")
    wait(browser).until(lambda b: outcome(b, "test-result") == "ok")
    browser.execute_script("window.scrollTo(0, 0)")  # the list's sticky header where it belongs
    shoot(browser, "sources-test")


def test_an_operator_tests_but_has_no_discover_form(
    browser: WebDriver, served: tuple[str, SourcesSite]
) -> None:
    base, _ = served
    sign_in(browser, base, "otto")
    browser.get(f"{base}/panel/sources")
    assert not browser.find_elements(By.ID, "discover-target")
    press(browser, "test-pnl")
    wait(browser).until(lambda b: outcome(b, "test-result") == "ok")
    held = browser.find_element(By.CSS_SELECTOR, "#test-sample tr[data-held]").text
    assert "has no sheet 'Mar'; its sheets: Jan" in held
