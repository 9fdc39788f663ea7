"""A rep on a phone: the collapsed menu, and only the distributors of their territories."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from crm.demo import DEMO_COMPANIES

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}  # iPhone 12–14 class, in CSS pixels


@pytest.fixture
def viewport():
    return PHONE


def test_rep_on_a_phone_sees_only_distributors_in_their_territories(sign_in, page, tmp_path_factory):
    sign_in("rep")  # the demo rep covers 深圳市 and 广州市

    nav_link = page.locator("[data-nav='distributors.index']")
    expect(nav_link).to_be_hidden()  # the menu starts collapsed on a phone
    page.locator(".navbar-toggler").click()
    page.locator("[data-nav-group='distributors']").click()  # the area's dropdown
    expect(nav_link).to_be_visible()
    nav_link.click()
    page.wait_for_url("**/distributors/")
    assert urlsplit(page.url).path == "/distributors/"

    rows = page.locator("main table tbody tr")
    names = set(rows.locator("td:first-child a").all_inner_texts())
    assert names == {DEMO_COMPANIES["kangda"][0], DEMO_COMPANIES["yuexiu"][0]}  # 深圳, 广州
    body = page.locator("main").inner_text()
    for outside in ("jinghua", "xihu"):  # 北京, 杭州
        assert DEMO_COMPANIES[outside][0] not in body

    # Nothing is wider than the phone: no sideways scrolling of the page.
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], f"the page is {page_width}px wide on a {PHONE['width']}px phone"

    shots = tmp_path_factory.mktemp("screenshots")
    page.screenshot(path=shots / "rep-phone-distributors.png", full_page=True)


def test_the_lead_search_hint_is_readable_on_a_phone(sign_in, page, live_server):
    """The placeholder is cut off at 390 px (in English); the whole hint is a line of its own under the box."""
    sign_in("rep")
    page.goto(f"{live_server}/leads/")
    hint = page.get_by_test_id("search-hint")
    expect(hint).to_be_visible()
    assert hint.inner_text().strip() == page.locator("input[name='q']").get_attribute("placeholder")
    assert hint.evaluate("e => e.scrollWidth <= e.clientWidth")  # it wraps inside the page instead of being cut
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
