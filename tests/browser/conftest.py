"""Browser tests: Debian's Chromium, driven by Playwright, against a real gunicorn.

The server is what `make run` serves: gunicorn with two workers on a database
prepared by the same `flask` commands (migrations, territories, demo data), so
these tests sign in with the demo accounts from README.md.

Playwright's own browser download is not used (`playwright install` needs the
internet and a CDN; customers and CI run on Debian's chromium package). Without
/usr/bin/chromium the tests are skipped with a warning — on CI (CI=true) they fail.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from crm.demo import DEMO_PASSWORD
from tests.servers import BIN, ROOT, server_env, start_gunicorn

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
FAILURE_SCREENSHOTS = ROOT / "test-results"
DESKTOP = {"width": 1280, "height": 800}

_skipped_for_missing_chromium = False


def _is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    global _skipped_for_missing_chromium
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
    if _is_ci():
        pytest.fail(f"CI=true: browser tests cannot be skipped. {message}", pytrace=False)
    _skipped_for_missing_chromium = True
    pytest.skip(f"!!! BROWSER TESTS SKIPPED !!! {message}")


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_missing_chromium:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"!! The browser tests were SKIPPED: {CHROMIUM} is missing (apt-get install chromium).",
            red=True,
            bold=True,
        )
        terminalreporter.write_line(bar, red=True, bold=True)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> str:
    """The demo installation served by gunicorn (2 workers); yields its base URL."""
    workdir = tmp_path_factory.mktemp("live-server")
    env = server_env(f"sqlite:///{workdir / 'crm.sqlite3'}", workdir / "instance")
    for command in (["db", "upgrade"], ["crm", "load-territories"], ["crm", "demo"]):
        result = subprocess.run(
            [str(BIN / "flask"), *command], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"flask {' '.join(command)} failed:\n{result.stdout}{result.stderr}", pytrace=False)

    try:
        server = start_gunicorn(env, workdir / "gunicorn.log", workers=2)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path) -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def viewport() -> dict:
    """The window size; a test overrides it (``@pytest.mark.parametrize`` or a local fixture) for phones."""
    return DESKTOP


@pytest.fixture
def context(browser, live_server, viewport) -> BrowserContext:
    phone = viewport["width"] < 576
    context = browser.new_context(
        base_url=live_server,
        viewport=viewport,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture
def page(context, request) -> Page:
    page = context.new_page()
    yield page
    if getattr(request.node, "browser_test_failed", False):
        # What the browser showed when the test failed: the first thing to look at on CI.
        FAILURE_SCREENSHOTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.nodeid.split("::", 1)[-1])
        page.screenshot(path=FAILURE_SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def sign_in(page):
    """``sign_in("rep")`` signs in through the login form and waits to leave it."""

    def sign_in(username: str, password: str = DEMO_PASSWORD) -> Page:
        page.goto("/auth/login")
        form = page.locator("main form")
        form.locator("input[name=username]").fill(username)
        form.locator("input[name=password]").fill(password)
        form.locator("button[type=submit]").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        return page

    return sign_in
