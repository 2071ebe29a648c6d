"""The control panel's tests share one project: the golden retailer, built once, with a model that
fails until it is fixed and a CRM contract that accepts the rating it once held back.

Built under pytest's base temp folder (``panel/``) by the first module that asks, and
reused by the others of the session (the in-process tests and the browser tests).
"""

from __future__ import annotations

import re
from pathlib import Path

from served import Served, build_served
from starlette.testclient import TestClient

# a model that reads a column staging.stores does not have: its build fails until fixed
HEADER = "/*\nkind: full\nowner: data\ndescription: Stores, to check the control panel\n*/\n"
BROKEN_MODEL = HEADER + "SELECT store_id, no_such_column FROM staging.stores\n"
FIXED_MODEL = HEADER + "SELECT store_id FROM staging.stores\n"
MODEL_FILE = Path("models") / "marts" / "panel_check.sql"


def build_panel_site(base: Path) -> Served:
    """The golden project for the panel's tests (built once per test session)."""
    site = build_served(base / "panel")
    model = site.root / MODEL_FILE
    if not model.exists():
        model.write_text(BROKEN_MODEL, encoding="utf-8")
        # the golden CRM file holds a rating of 9 back (maximum 5): a contract that
        # accepts up to 10 lets a replay move it to staging
        contract = site.root / "sources" / "crm_interactions.yml"
        text = contract.read_text(encoding="utf-8")
        changed = text.replace(
            "{name: rating, type: int, min: 1, max: 5,",
            "{name: rating, type: int, min: 1, max: 10,",
        )
        assert changed != text, "the CRM contract's rating maximum was not found"
        contract.write_text(changed, encoding="utf-8")
    return site


def sign_in(client: TestClient, token: str) -> str:
    """Sign ``client`` in with an API token; the page's CSRF token for its forms."""
    form = client.get("/signin")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found is not None, form.text
    done = client.post("/signin", data={"csrf_token": found.group(1), "token": token})
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert found is not None
    return found.group(1)
