"""Sign-in security against real servers: two gunicorn processes on one database.

The failure count and the sign-in sessions live in the database, not in process
memory, so what one process learns the other must honour: a guesser who spreads
attempts over several hosts behind a load balancer is still stopped (and, behind
an office's one address, keeps no colleague out on either host), and a cookie
kept from before a sign-out opens nothing on any host.

Both servers use the suite's own database (the ``app`` fixture's: the SQLite file
of the first run, the PostgreSQL cluster of the second), so the data is built with
tests/helpers and emptied after each test like any other.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from crm.access.roles import Role
from crm.auth.models import AuditEvent, LoginAddressWait
from crm.common.time import utcnow
from crm.extensions import db
from tests import servers as servers_module
from tests.helpers import PASSWORD, gen_user
from tests.servers import Server

pytestmark = pytest.mark.slow

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def start_gunicorn(database_url: str, instance: Path, log: Path) -> Server:
    """One gunicorn process with one worker; the shared instance dir gives every server the same secret key."""
    try:
        return servers_module.start_gunicorn(servers_module.server_env(database_url, instance), log)
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def servers(app, database_url, tmp_path_factory):
    """Two separate gunicorn processes (think: two hosts) on the suite's database."""
    instance = tmp_path_factory.mktemp("instance-gunicorn")
    logs = tmp_path_factory.mktemp("gunicorn-logs")
    started = []
    try:
        for name in ("a", "b"):
            started.append(start_gunicorn(database_url, instance, logs / f"{name}.log"))
        yield started
    finally:
        for server in started:
            server.stop()


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # we assert on redirects rather than follow them


@dataclass
class Response:
    status: int
    location: str
    body: str


class Browser:
    """A cookie-keeping HTTP client that sends forms with their CSRF token, as a browser does."""

    def __init__(self, base_url: str, jar: http.cookiejar.CookieJar | None = None):
        self.base_url = base_url
        self.jar = jar if jar is not None else http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _KeepRedirects)

    def request(self, path: str, data: dict | None = None) -> Response:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base_url + path, data=body, timeout=15) as response:
                return Response(response.status, "", response.read().decode())
        except urllib.error.HTTPError as error:  # 3xx (not followed) and 4xx/5xx
            location = urllib.parse.urlsplit(error.headers.get("Location", "")).path
            return Response(error.code, location, error.read().decode(errors="replace"))

    def csrf_token(self, path: str = "/auth/login") -> str:
        page = self.request(path)
        match = _CSRF_META.search(page.body)
        assert match, f"no CSRF token on {path} (status {page.status})"
        return match.group(1)

    def login(self, username: str, password: str, *, remember: bool = False) -> Response:
        form = {"username": username, "password": password, "csrf_token": self.csrf_token()}
        if remember:
            form["remember"] = "y"
        return self.request("/auth/login", form)

    def logout(self) -> Response:
        return self.request("/auth/logout", {"csrf_token": self.csrf_token("/")})

    def is_signed_in(self) -> bool:
        home = self.request("/")
        assert home.status in (200, 302), home
        return home.status == 200

    def copy_with_cookies_to(self, base_url: str) -> Browser:
        """Another client holding a copy of this one's cookies (a stolen or kept cookie)."""
        jar = http.cookiejar.CookieJar()
        for cookie in self.jar:
            jar.set_cookie(cookie)
        return Browser(base_url, jar)


def _audit_count(app, event: str, username: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == event, AuditEvent.username == username)
        )


def _refused(response: Response) -> bool:
    """A refused sign-in re-renders the form: 200, the login page, no redirect."""
    return response.status == 200 and 'name="password"' in response.body


def test_throttle_holds_across_processes(app, servers):
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    victim = gen_user(app, Role.REP, territories=["440300"])
    bystander = gen_user(app, Role.REP, territories=["440100"])
    a, b = (Browser(server.url) for server in servers)

    # The guesser alternates hosts, so neither process alone sees the limit reached.
    for attempt in range(limit):
        browser = (a, b)[attempt % 2]
        assert _refused(browser.login(victim.username, f"wrong-{attempt}")), f"attempt {attempt + 1}"
    assert _audit_count(app, "login_failed", victim.username) == limit
    assert _audit_count(app, "login_throttled", victim.username) == 0

    # Now even the right password is refused, on either process, and opens no session.
    for browser in (a, b):
        assert _refused(browser.login(victim.username, PASSWORD))
        assert not browser.is_signed_in()
    assert _audit_count(app, "login_throttled", victim.username) == 2
    # Refusing a throttled attempt does not check the password, so it does not count as a failure.
    assert _audit_count(app, "login_failed", victim.username) == limit

    # The lock is per account: someone else signs in on both processes.
    for server in servers:
        colleague = Browser(server.url)
        response = colleague.login(bystander.username, PASSWORD)
        assert (response.status, response.location) == (302, "/")
        assert colleague.is_signed_in()


def _alert(response: Response) -> str:
    match = re.search(r'role="alert">([^<]*)<', response.body)
    return match.group(1) if match else ""


def test_a_guesser_on_one_process_keeps_no_colleague_out_on_the_other(app, servers):
    """One address (an office's NAT), two hosts: the guesser is paced on both, the colleague gets in on either."""
    allowance = app.config["LOGIN_MAX_FAILURES_PER_IP"]
    colleague = gen_user(app, Role.REP, territories=["440300"])
    a, b = (Browser(server.url) for server in servers)
    for attempt in range(allowance + 1):  # made-up names; the last takes the check the allowance leaves
        assert "用户名或密码错误" in _alert(a.login(f"nobody{attempt}", "guess-123456")), f"attempt {attempt + 1}"
    # Time is moved in the database, not slept through: the address's next check is ten minutes away.
    with app.app_context():
        db.session.execute(update(LoginAddressWait).values(next_check_at=utcnow() + timedelta(minutes=10)))
        db.session.commit()

    # The other process knows: the guesser waits there too, and its password is not checked.
    refused = _alert(b.login("nobody-else", "guess-123456"))
    assert re.fullmatch(r"您所在网络的登录失败次数过多，请等待 \d+ 秒后再试。", refused)
    assert _audit_count(app, "login_throttled", "nobody-else") == 1
    assert _audit_count(app, "login_failed", "nobody-else") == 0

    # The colleague, whose account nobody has guessed at, signs in at once on either process.
    for server in servers:
        office = Browser(server.url)
        response = office.login(colleague.username, PASSWORD)
        assert (response.status, response.location) == (302, "/")
        assert office.is_signed_in()


@pytest.mark.parametrize("remember", [False, True], ids=["session-cookie", "remember-me"])
def test_cookie_kept_from_before_logout_is_refused_everywhere(app, servers, remember):
    user = gen_user(app, Role.MANAGER, territories=["440000"])
    first, second = servers
    browser = Browser(first.url)
    assert browser.login(user.username, PASSWORD, remember=remember).status == 302

    kept_here = browser.copy_with_cookies_to(first.url)
    kept_elsewhere = browser.copy_with_cookies_to(second.url)
    # Before sign-out the copied cookies are as good as the original, on both hosts.
    assert kept_elsewhere.is_signed_in()

    response = browser.logout()
    assert (response.status, response.location) == (302, "/auth/login")
    assert not browser.is_signed_in()
    for kept in (kept_here, kept_elsewhere):
        home = kept.request("/")
        assert home.status == 302
        assert home.location == "/auth/login"
