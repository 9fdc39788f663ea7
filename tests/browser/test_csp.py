"""No page breaks the app's own Content Security Policy.

The policy (crm/security.py) allows scripts and styles from static/ only. An inline
``style=""`` or ``<script>`` is refused by the browser without a sound: the price
policy's line breaks silently vanished that way. Each role signs in and opens its
home, every page its navigation links to and a record from each list; Chromium
reports every refused resource as a ``securitypolicyviolation`` event and a console
error, and the test fails on either.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

ROLES = ["admin", "manager", "manager_zj", "director", "rep", "rep_hz", "service", "distributor", "13800138032"]
# Links that are not pages: downloads, the sign-out form's target.
NOT_A_PAGE = re.compile(r"(\.xlsx|\.pdf|\.csv|/export|/download|/logout|/auth/)")
RECORD = re.compile(r"^/(leads|distributors|screening|orders|portal)/(?:[a-z_]+/)?\d+$")
WATCH = """
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile || document.URL}:${e.lineNumber}`;
  window.__cspReport(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${where}`);
});
"""


def _links(page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('href'))")
    paths = []
    for href in hrefs:
        if not href or href.startswith("#"):
            continue
        parts = urlsplit(href)
        if parts.netloc or not parts.path.startswith("/") or NOT_A_PAGE.search(parts.path):
            continue
        paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize("username", ROLES)
def test_main_pages_raise_no_csp_violation(sign_in, page, context, username):
    violations: list[str] = []
    context.expose_function("__cspReport", lambda text: violations.append(text))
    context.add_init_script(WATCH)
    page.on(
        "console",
        lambda msg: (
            violations.append(f"console: {msg.text} on {page.url}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    sign_in(username)
    pages = [urlsplit(page.url).path, *_links(page, "header a[href], nav a[href]")]
    seen: set[str] = set()
    records: list[str] = []
    for path in pages:
        if path in seen:
            continue
        seen.add(path)
        response = page.goto(path)
        assert response is not None, f"{username}: {path} did not load"
        assert response.status < 400, f"{username}: {path} answered {response.status}"
        records += [link for link in _links(page, "main a[href]") if RECORD.match(link.split("?")[0])][:2]
    for path in dict.fromkeys(records):
        if path not in seen:
            seen.add(path)
            page.goto(path)
    page.wait_for_timeout(200)  # violation events are dispatched asynchronously
    assert len(seen) > 2, f"{username}: the crawl found no pages to open"
    assert violations == [], "\n".join(violations)


def test_the_price_policy_keeps_its_line_breaks(sign_in, page):
    sign_in("manager_zj")
    page.goto("/distributors/")
    page.get_by_role("link", name="杭州钱塘海达医药有限公司").first.click()
    policy = page.get_by_test_id("price-policy")
    assert policy.evaluate("el => getComputedStyle(el).whiteSpace") == "pre-line"
    # Two lines in the demo's policy, so the box is about two line-heights tall.
    line = policy.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
    assert policy.bounding_box()["height"] >= 1.8 * line
