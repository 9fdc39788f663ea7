"""Signing in and out in a real browser, with the demo accounts of `make run`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from crm.access.roles import Role
from crm.demo import DEMO_USERS

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u4e00-\u9fff]")
STAFF_AREAS = {"distributors.index", "products.index"}
ADMIN_AREAS = {"admin.users", "admin.audit_log"}

# (links the role must see, links it must not see), by the data-nav endpoint. Sets rather
# than exact lists, so that new areas (leads, orders …) do not break this test.
NAVIGATION = {
    Role.ADMIN: ({"main.index", *STAFF_AREAS, "territories.index", *ADMIN_AREAS}, {"distributors.my_company"}),
    Role.MANAGER: ({"main.index", *STAFF_AREAS, "territories.index"}, {*ADMIN_AREAS, "distributors.my_company"}),
    Role.REP: ({"main.index", *STAFF_AREAS}, {"territories.index", *ADMIN_AREAS, "distributors.my_company"}),
    Role.SERVICE: ({"main.index", *STAFF_AREAS}, {"territories.index", *ADMIN_AREAS, "distributors.my_company"}),
    Role.DISTRIBUTOR: ({"main.index", "distributors.my_company"}, {*STAFF_AREAS, "territories.index", *ADMIN_AREAS}),
}


def test_every_role_has_navigation_rules():
    assert {role for _username, _name, role, _assignment in DEMO_USERS} <= set(NAVIGATION)


@pytest.mark.parametrize(
    ("username", "display_name", "role"),
    [(username, name, role) for username, name, role, _assignment in DEMO_USERS],
    ids=[username for username, *_ in DEMO_USERS],
)
def test_demo_account_sees_its_own_navigation(sign_in, page, username, display_name, role):
    sign_in(username)
    expect(page.locator("nav.navbar")).to_contain_text(display_name)

    links = page.locator("[data-testid=main-nav] [data-nav]")
    expect(links.first).to_be_visible()
    shown = {link.get_attribute("data-nav"): link.get_attribute("href") for link in links.all()}
    required, forbidden = NAVIGATION[role]
    assert required <= shown.keys(), f"{username} misses {required - shown.keys()}"
    assert not (forbidden & shown.keys()), f"{username} must not see {forbidden & shown.keys()}"

    # Every link offered must open for this user (a link to a 403/404 page is a broken menu).
    for endpoint, href in shown.items():
        response = page.request.get(href, max_redirects=0)
        assert response.status == 200, f"{username}: {endpoint} ({href}) answered {response.status}"


def test_login_page_is_chinese_until_english_is_chosen(page, live_server):
    page.goto("/auth/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    heading = page.locator("main h1")
    expect(heading).to_have_text(CJK)
    expect(page.locator("main form button[type=submit]")).to_have_text(CJK)

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(heading).to_have_text("Sign in")
    assert urlsplit(page.url).path == "/auth/login"

    # The choice lasts for the session, and Chinese is one click away.
    page.reload()
    expect(heading).to_have_text("Sign in")
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(heading).to_have_text(CJK)


def test_sign_out_ends_the_session(sign_in, page):
    sign_in("rep")
    page.get_by_test_id("user-menu").click()
    page.locator("[data-testid=logout]").click()
    page.wait_for_url("**/auth/login*")

    page.goto("/")
    assert urlsplit(page.url).path == "/auth/login"
    expect(page.locator("main input[name=password]")).to_be_visible()
    expect(page.locator("[data-testid=main-nav]")).to_have_count(0)
