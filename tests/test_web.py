"""The web app over HTTP: sign-in, sessions, CSRF, the headers, and the dashboards' numbers.

The example retailer on the golden dataset (shared with the API tests), a password
per reference user, the app driven in-process. The numbers on a page are checked
against ``GET /api/v1/kpis/<name>`` for the same filters.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from served import USER_OF, Served, build_served

import weir
from weir.errors import AuthError, ProjectError, RateLimited
from weir.governance.signin import USER_FAILURES
from weir.serve.app import create_app

PASSWORD = "a long enough password"
# argon2id as weir runs it, at a lower cost so that each check takes milliseconds, not 100s of them
CHEAP_ARGON2 = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TEAM_BOARDS = {
    "sales": "sales",
    "marketing": "marketing",
    "operations": "operations",
    "support": "support",
    "finance": "finance",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return build_served(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def project(shop: Served) -> Iterator[weir.Project]:
    with shop.project() as opened:
        opened.signin.hasher = CHEAP_ARGON2
        for user in USER_OF.values():
            opened.signin.set_password(user, PASSWORD)
        yield opened


@pytest.fixture(scope="module")
def app(project: weir.Project) -> Any:
    return create_app(project)


def client(app: Any, base: str = "http://weir") -> TestClient:
    return TestClient(app, base_url=base, follow_redirects=False)


def signed_in(app: Any, user: str, password: str = PASSWORD) -> TestClient:
    browser = client(app)
    assert sign_in(browser, user, password).status_code == 303
    return browser


def sign_in(browser: TestClient, user: str, password: str, **extra: str) -> Any:
    form = browser.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "user": user, "password": password, **extra}
    return browser.post("/signin", data=data)


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def tiles(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-kpi="([^"]+)" data-value="([^"]*)"', page))


def api_rows(app: Any, shop: Served, role: str, kpi: str, **params: Any) -> list[dict[str, Any]]:
    answer = client(app).get(f"/api/v1/kpis/{kpi}", params=params, headers=shop.headers(role))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = [c["name"] for c in body["columns"]]
    return [dict(zip(names, row, strict=True)) for row in body["rows"]]


# -- signing in ---------------------------------------------------------------------------------
def test_a_page_without_a_session_sends_to_the_sign_in_page(app: Any) -> None:
    answer = client(app).get("/dashboards/sales?grain=month")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/dashboards/sales%3Fgrain%3Dmonth"


def test_signing_in_sets_a_session_cookie_and_audits_it(app: Any, project: weir.Project) -> None:
    browser = client(app)
    answer = sign_in(browser, "sam", PASSWORD, next="/dashboards/sales")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboards/sales"
    cookie = answer.headers["set-cookie"]
    assert "weir_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; under TLS it is Secure (below)
    home = browser.get("/")
    assert home.status_code == 200 and "sam" in home.text
    record = project.audit.records("signin", "sam", limit=1)[0]
    assert record.entry.allowed and record.entry.role == "sales"
    assert record.entry.detail == {"method": "password", "client": "testclient", "token": None}


def test_the_cookie_is_secure_under_tls(app: Any) -> None:
    answer = sign_in(client(app, "https://weir"), "mia", PASSWORD)
    assert "Secure" in answer.headers["set-cookie"]


def test_a_wrong_password_is_refused_and_audited(app: Any, project: weir.Project) -> None:
    browser = client(app)
    answer = sign_in(browser, "fay", "not the password")
    assert answer.status_code == 401
    assert "the user name or the password is not right" in answer.text
    assert "weir_session" not in answer.headers.get("set-cookie", "")
    record = project.audit.records("signin", "fay", allowed=False, limit=1)[0]
    assert record.entry.reason == "refused: the user name or the password is not right"
    # an unknown user is refused the same way (nothing says which users exist)
    assert "the user name or the password is not right" in sign_in(browser, "nobody", "x").text


def test_the_sign_in_form_refuses_a_post_without_its_own_token(app: Any) -> None:
    answer = client(app).post("/signin", data={"user": "sam", "password": PASSWORD})
    assert answer.status_code == 403
    assert "weir_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_is_held_after_repeated_refusals(project: weir.Project) -> None:
    now = [1_000_000.0]
    signin = weir.governance.signin.SignIn(
        project.store, project.access, project.audit, clock=lambda: now[0]
    )
    signin.hasher = CHEAP_ARGON2
    for _ in range(USER_FAILURES):
        with pytest.raises(AuthError):
            signin.with_password("oscar", "wrong password!", "10.0.0.7")
    # the right password is not even checked while the user name is held
    with pytest.raises(RateLimited) as held:
        signin.with_password("oscar", PASSWORD, "10.0.0.8")
    assert held.value.status == 429 and held.value.retry_after > 0
    now[0] += weir.governance.signin.WINDOW + 1  # the window moves on
    session = signin.with_password("oscar", PASSWORD, "10.0.0.8")
    assert session.principal.user == "oscar"


def test_sessions_expire_and_end_on_sign_out(project: weir.Project) -> None:
    now = [2_000_000.0]
    signin = weir.governance.signin.SignIn(
        project.store, project.access, project.audit, clock=lambda: now[0]
    )
    signin.hasher = CHEAP_ARGON2
    opened = signin.with_password("sue", PASSWORD, "10.0.0.9")
    assert signin.session(opened.session_id).principal.role == "support"
    now[0] += weir.governance.signin.IDLE + 1
    with pytest.raises(AuthError, match="expired"):
        signin.session(opened.session_id)
    again = signin.with_password("sue", PASSWORD, "10.0.0.9")
    signin.sign_out(again.session_id)
    with pytest.raises(AuthError, match="ended"):
        signin.session(again.session_id)


def test_a_token_signs_in_and_its_revocation_ends_the_session(
    app: Any, project: weir.Project
) -> None:
    record, token = project.access.tokens().create("ana", "analyst", note="web test")
    browser = client(app)
    form = browser.get("/signin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = browser.post("/signin", data={"csrf_token": csrf.group(1), "token": token})
    assert answer.status_code == 303
    assert browser.get("/").status_code == 200
    project.access.tokens().revoke(record.token_id)
    assert browser.get("/").status_code == 303  # back to the sign-in page


def test_passwords_are_checked_when_set(project: weir.Project) -> None:
    with pytest.raises(ProjectError, match="characters"):
        project.signin.set_password("sam", "short")
    with pytest.raises(AuthError, match="unknown user"):
        project.signin.set_password("mallory", PASSWORD)


# -- CSRF and the headers -------------------------------------------------------------------------
def test_a_state_changing_request_without_the_csrf_token_is_refused(app: Any) -> None:
    browser = signed_in(app, "sam")
    page = browser.get("/").text
    refused = browser.post("/signout", data={})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert browser.get("/").status_code == 200  # still signed in
    wrong = browser.post("/signout", headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    done = browser.post("/signout", headers={"X-CSRF-Token": csrf_of(page)})
    assert done.status_code == 303
    assert browser.get("/").status_code == 303


def test_every_page_has_a_policy_without_inline_script(app: Any) -> None:
    browser = signed_in(app, "mia")
    for path in ("/", "/dashboards/marketing", "/signin", "/no/such/page"):
        answer = browser.get(path)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("style")[0]
        assert answer.headers["x-frame-options"] == "DENY"
        # no inline code: every <script> is a file of weir or a JSON block
        for tag in re.findall(r"<script[^>]*>", answer.text):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\son[a-z]+=", answer.text)


def test_markup_in_what_a_page_echoes_is_shown_as_text(app: Any) -> None:
    attack = "<script>alert(1)</script>"
    answer = sign_in(client(app), attack, "x")
    assert attack not in answer.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
    browser = signed_in(app, "sam")
    missing = browser.get(f"/dashboards/{attack}")
    assert missing.status_code == 404 and attack not in missing.text


# -- the dashboards ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", sorted(TEAM_BOARDS))
def test_each_team_sees_its_dashboard_and_not_the_others(app: Any, role: str) -> None:
    browser = signed_in(app, USER_OF[role])
    assert browser.get(f"/dashboards/{TEAM_BOARDS[role]}").status_code == 200
    for other in set(TEAM_BOARDS.values()) - {TEAM_BOARDS[role]}:
        answer = browser.get(f"/dashboards/{other}")
        assert answer.status_code == 404, (role, other)
        assert f">{other.capitalize()}<" not in browser.get("/").text  # nor in the top bar


@pytest.mark.parametrize("user", ["oscar", "ada"])
def test_a_dashboard_whose_marts_are_not_built_yet_opens_and_says_so(
    app: Any, project: weir.Project, user: str
) -> None:
    # the logistics marts wait for the carrier's API and the shop's database: not connected here
    assert not project.lake.exists("marts", "hop_dwell")
    page = signed_in(app, user).get("/dashboards/logistics")
    assert page.status_code == 200, page.text
    assert "There is no data for this dashboard yet." in page.text
    assert not tiles(page.text)


def test_tiles_equal_the_api_for_the_same_filters(app: Any, shop: Served) -> None:
    browser = signed_in(app, "sam")
    query = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week", "compare": "1"}
    page = browser.get("/dashboards/sales", params=query)
    assert page.status_code == 200
    shown = tiles(page.text)
    assert set(shown) >= {"net_sales", "gross_sales", "units_sold", "stock_availability"}
    api = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week", "compare": "previous_period"}
    for kpi, value in shown.items():
        last = api_rows(app, shop, "sales", kpi, **api)[-1]
        assert (float(value) if value else None) == last["value"], kpi


def test_a_region_filter_gives_the_api_row_of_that_region(app: Any, shop: Served) -> None:
    browser = signed_in(app, "sam")
    query = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week"}
    everything = tiles(browser.get("/dashboards/sales", params=query).text)
    north = tiles(browser.get("/dashboards/sales", params={**query, "region": "North"}).text)
    rows = api_rows(app, shop, "sales", "net_sales", by="region", **query)
    last_week = max(r["period"] for r in rows)
    expected = [r["value"] for r in rows if r["period"] == last_week and r["region"] == "North"]
    assert float(north["net_sales"]) == expected[0]
    assert float(north["net_sales"]) < float(everything["net_sales"])


def test_a_regional_role_sees_only_its_region(app: Any, shop: Served) -> None:
    browser = signed_in(app, "nina")
    query = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week"}
    shown = tiles(browser.get("/dashboards/sales", params=query).text)
    last = api_rows(app, shop, "sales_north", "net_sales", **query)[-1]
    assert float(shown["net_sales"]) == last["value"]


def test_the_csv_of_a_chart_is_the_rows_behind_it(app: Any, shop: Served) -> None:
    browser = signed_in(app, "sam")
    query = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week"}
    answer = browser.get("/dashboards/sales/chart/1.csv", params={**query, "compare": "0"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    api = api_rows(app, shop, "sales", "net_sales", **query)
    assert [(r["period"], float(r["value"])) for r in rows] == [
        (r["period"], r["value"]) for r in api
    ]


def test_a_drill_down_breaks_a_region_into_its_stores(app: Any, shop: Served) -> None:
    browser = signed_in(app, "sam")
    query = {"from": "2025-01-13", "to": "2025-01-19", "grain": "week"}
    answer = browser.get(
        "/dashboards/sales/chart/2.csv", params={**query, "compare": "0", "region": "North"}
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {r["region"] for r in rows} == {"North"}
    api = api_rows(app, shop, "sales", "net_sales", by=["region", "store_id"], **query)
    expected = {str(r["store_id"]): r["value"] for r in api if r["region"] == "North"}
    assert {r["store_id"]: float(r["value"]) for r in rows} == expected


def test_bad_filters_answer_a_page_that_says_what_to_do(app: Any) -> None:
    browser = signed_in(app, "sam")
    answer = browser.get("/dashboards/sales", params={"from": "yesterday"})
    assert answer.status_code == 400
    assert "is not a date" in answer.text and "2025-01-31" in answer.text
    unknown = browser.get("/dashboards/sales", params={"channel": "web"})
    assert unknown.status_code == 400 and "has no filter channel" in unknown.text


def test_flagged_days_are_shaded_and_can_be_left_out(
    app: Any, shop: Served, project: weir.Project
) -> None:
    day = date(2025, 1, 15)
    project.quality.flag(day, "the <b>till</b> files of 15 January came in twice", kpi="net_sales")
    try:
        browser = signed_in(app, "sam")
        query = {"from": "2025-01-06", "to": "2025-01-19", "grain": "week"}
        page = browser.get("/dashboards/sales", params=query).text
        # the reason is listed (as text) and the charts of net sales shade the day
        assert "the &lt;b&gt;till&lt;/b&gt; files of 15 January came in twice" in page
        block = re.search(r'id="chart-1-data">(.*?)</script>', page, re.S)
        assert block is not None and "<b>" not in block.group(1)  # markup escaped in JSON too
        spec = json.loads(block.group(1))
        assert spec["flags"] == [
            {
                "start": "2025-01-15",
                "end": "2025-01-16",
                "reason": "2025-01-15: the <b>till</b> files of 15 January came in twice",
            }
        ]
        left_out = tiles(
            browser.get("/dashboards/sales", params={**query, "flagged": "exclude"}).text
        )
        api = api_rows(app, shop, "sales", "net_sales", exclude_flagged="true", **query)
        assert float(left_out["net_sales"]) == api[-1]["value"]
        assert float(left_out["net_sales"]) < float(tiles(page)["net_sales"])
    finally:
        project.quality.unflag(day, "net_sales")


def test_a_second_view_is_answered_from_the_cache_and_still_audited(
    app: Any, project: weir.Project
) -> None:
    browser = signed_in(app, "fay")
    browser.get("/dashboards/finance")
    before = project.audit.records("kpi", "fay", limit=1)[0].seq
    browser.get("/dashboards/finance")
    after = project.audit.records("kpi", "fay", limit=5)
    newer = [r for r in after if r.seq > before]
    assert len(newer) == 1 and "as cached for this lake version" in newer[0].entry.action


def test_a_failure_is_a_page_for_a_browser_and_names_no_code(project: weir.Project) -> None:
    app = create_app(project)

    def broken() -> None:
        raise ZeroDivisionError("division by zero in weir/secret_module.py")

    app.add_api_route("/broken", broken)
    browser = TestClient(app, base_url="http://weir", raise_server_exceptions=False)
    page = browser.get("/broken", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "the server failed to answer this page" in page.text
    assert "ZeroDivision" not in page.text and "secret_module" not in page.text
    assert browser.get("/broken").json()["error"]["code"] == "internal"  # not a browser: JSON


def test_an_export_of_nothing_or_of_another_teams_dashboard_is_not_found(app: Any) -> None:
    browser = signed_in(app, "sue")
    assert browser.get("/dashboards/support/chart/1.csv").status_code == 200
    for path in (
        "/dashboards/support/chart/99.csv",
        "/dashboards/support/chart/0.csv",
        "/dashboards/support/slide/1.csv",
        "/dashboards/finance/tile/1.csv",
    ):
        assert browser.get(path).status_code == 404, path
    assert browser.get("/dashboards/support/chart/one.csv").status_code == 400
