"""Every role's home at 1366 and 1024 px in both languages and on a 390 px phone: nothing wider than the window.

The screenshots are written under instance/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import pytest

from crm.demo import DEMO_USERS
from tests.servers import ROOT

pytestmark = pytest.mark.browser

SHOTS = ROOT / "instance" / "screenshots"
SIZES = [(1366, "zh"), (1366, "en"), (1024, "zh"), (1024, "en"), (390, "zh"), (390, "en")]


@pytest.fixture
def viewport(request):
    return {"width": request.param, "height": 844 if request.param < 576 else 768}


@pytest.mark.parametrize(
    ("viewport", "language"), [pytest.param(w, lang, id=f"{w}-{lang}") for w, lang in SIZES], indirect=["viewport"]
)
@pytest.mark.parametrize("username", [u for u, *_ in DEMO_USERS])
def test_home_fits_the_window(sign_in, page, viewport, language, username):
    sign_in(username)
    try:
        _check_home(page, viewport, language, username)
    finally:
        # The choice is stored on the user and the server outlives this test: leave Chinese, the default.
        page.goto("/")
        page.locator("footer button[value=zh_CN]").click()
        page.wait_for_load_state()


def _check_home(page, viewport, language, username):
    # The choice is kept with the user: chosen every time, as the previous test may have switched.
    page.locator(f"footer button[value={'en' if language == 'en' else 'zh_CN'}]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == ("en" if language == "en" else "zh-CN")
    page.goto("/")
    width = viewport["width"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{username}-{width}-{language}.png", full_page=True)

    document_width = page.evaluate("document.documentElement.scrollWidth")
    assert document_width <= width, f"{username}: the page is {document_width}px wide in a {width}px window"
    if width >= 992:
        # The bar is one line: no item wraps, the user menu stays on the blue bar.
        bar = page.locator("nav.navbar").bounding_box()
        assert bar["height"] < 70, f"{username}: the menu bar is {bar['height']}px high"
        # Each area opens as a dropdown inside the window.
        for toggle in page.locator("[data-nav-group]").all():
            toggle.click()
            menu = toggle.locator("xpath=following-sibling::ul")
            box = menu.bounding_box()
            assert box
            assert box["x"] + box["width"] <= width
            toggle.click()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
