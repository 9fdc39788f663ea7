"""An address that fails too often is paced, not locked: a guesser behind an office's NAT keeps no colleague out.

Every request of the test client comes from 127.0.0.1, as an office behind one
NAT or proxy does. Time is injected (the ``clock`` fixture moves the sign-in
service's clock) rather than slept through. The last tests run the guesser and
the office on two app instances on the same database, as two workers would.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.access.roles import Role
from crm.auth import services
from crm.auth.models import AuditEvent, LoginAddressWait, LoginFailure
from crm.common.time import utcnow
from crm.extensions import db
from tests.helpers import csrf_token, login, post

ALLOWANCE = 4  # failures from one address before it is paced (20 in production; 4 keeps the tests short)
CAP = 8  # the longest wait between checks, in seconds

_made_up = count(1)
WRONG = "guess-123456"  # what the guesser tries: never a test user's password


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app, monkeypatch):
    """The sign-in service's clock, for this test, with small limits."""
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_IP", ALLOWANCE)
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", CAP)
    fake = Clock(utcnow())
    monkeypatch.setattr(services, "utcnow", fake)
    return fake


def alert(response) -> str:
    """The flashed message of a refused sign-in."""
    match = re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True))
    assert match, f"no message (status {response.status_code})"
    return match.group(1)


def guess(app):
    """One sign-in as a made-up username, from a fresh browser."""
    return login(app.test_client(), f"nobody{next(_made_up)}", WRONG)


def signed_in(response) -> bool:
    return response.status_code == 302 and response.headers["Location"] == "/"


def failures(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginFailure))


def audits(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def wait_in(message: str) -> int:
    """The seconds a wait message names ("请等待 4 秒后再试")."""
    match = re.search(r"请等待 (\d+) 秒", message)
    assert match, message
    return int(match.group(1))


def use_up_the_allowance(app) -> None:
    for _ in range(ALLOWANCE):
        assert "用户名或密码错误" in alert(guess(app))


# --- one process ---------------------------------------------------------------------------------


def test_made_up_names_from_one_address_keep_no_colleague_out(app, clock, make_user):
    colleague = make_user(Role.REP, territories=["440300"])
    use_up_the_allowance(app)
    for _ in range(3):  # the guesser goes on
        guess(app)
    # No wait for someone whose account nobody has been guessing at (the old rule refused them here).
    assert signed_in(login(app.test_client(), colleague))


def test_the_address_then_waits_between_checks_doubling_up_to_the_cap(app, clock):
    use_up_the_allowance(app)
    waits = []
    for _ in range(6):
        checked = guess(app)  # the wait is over: this guess is checked, and fails
        assert "用户名或密码错误" in alert(checked)
        refused = guess(app)  # at once: inside the new wait
        waits.append(wait_in(alert(refused)))
        clock.advance(waits[-1])
    assert waits == [1, 2, 4, 8, 8, 8]
    # Guesses inside a wait were answered without a check: they count as nothing.
    assert failures(app) == ALLOWANCE + 6
    assert [e.detail for e in audits(app, "login_throttled")] == ['{"reason": "address"}'] * 6


def test_the_wait_is_told_in_the_users_language(app, clock):
    use_up_the_allowance(app)
    guess(app)
    assert alert(guess(app)) == "您所在网络的登录失败次数过多，请等待 1 秒后再试。"
    english = app.test_client()
    post(english, "/language", {"locale": "en", "next": "/auth/login"})
    assert alert(login(english, "nobody-en", WRONG)) == (
        "Many sign-ins from your network have failed. Wait 1 second and try again."
    )
    clock.advance(1)
    guess(app)
    assert alert(login(english, "nobody-en", WRONG)) == (
        "Many sign-ins from your network have failed. Wait 2 seconds and try again."
    )


def test_inside_a_wait_an_account_that_failed_here_waits_too_and_gets_in_after(app, clock, make_user):
    mistyper = make_user(Role.REP, territories=["440300"])
    assert "用户名或密码错误" in alert(login(app.test_client(), mistyper, "typo-in-it"))
    for _ in range(ALLOWANCE - 1):  # with the typo, the address's allowance
        guess(app)
    guess(app)  # takes the check: the address now waits 1 s
    refused = login(app.test_client(), mistyper)
    assert wait_in(alert(refused)) == 1  # even the right password waits its turn, unchecked
    clock.advance(1)
    assert signed_in(login(app.test_client(), mistyper))


def test_a_wrong_password_on_a_fresh_account_inside_a_wait_is_answered_like_any_other_try(app, clock, make_user):
    colleague = make_user(Role.REP, territories=["440300"])
    use_up_the_allowance(app)
    guess(app)
    made_up = alert(guess(app))
    before = failures(app)
    real = alert(login(app.test_client(), colleague, "a-wrong-one"))
    # Checked and counted (against the account too), but the guesser cannot tell an existing name from another.
    assert real == made_up
    assert failures(app) == before + 1
    # Now the account has failed from here: its next try waits like the guesser's.
    assert wait_in(alert(login(app.test_client(), colleague))) == 1


def test_another_address_is_not_paced(app, clock, make_user):
    use_up_the_allowance(app)
    guess(app)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert "用户名或密码错误" in alert(login(elsewhere, "nobody-elsewhere", WRONG))


def test_the_pace_ends_with_the_window(app, clock):
    use_up_the_allowance(app)
    guess(app)
    assert wait_in(alert(guess(app))) == 1
    clock.advance(app.config["LOGIN_WINDOW_MINUTES"] * 60 + 1)
    assert "用户名或密码错误" in alert(guess(app))
    assert "用户名或密码错误" in alert(guess(app))


def test_the_account_lock_still_holds_for_a_fresh_address(app, clock, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]):
        login(app.test_client(), rep, "wrong-password")
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    response = login(elsewhere, rep)
    assert alert(response) == "该用户名登录失败次数过多，请 15 分钟后再试。"
    assert elsewhere.get("/").status_code == 302


# --- two app instances on one database, as two workers -------------------------------------------


@pytest.fixture
def other_worker(app, database_url, clock):
    """A second app on the same database (its own engine and connections), with the same limits."""
    other = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        LOGIN_MAX_FAILURES_PER_IP=ALLOWANCE,
        LOGIN_MAX_DELAY_SECONDS=CAP,
    )
    other.instance_path = app.instance_path
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_guesser_on_one_worker_keeps_nobody_out_on_the_other(app, other_worker, clock, make_user):
    office = make_user(Role.MANAGER, territories=["440000"])
    mistyper = make_user(Role.REP, territories=["440300"])
    assert "用户名或密码错误" in alert(login(other_worker.test_client(), mistyper, "typo-in-it"))
    for _ in range(ALLOWANCE - 1):  # with the typo, the address's allowance
        guess(app)
    assert "用户名或密码错误" in alert(guess(app))  # the check after the allowance, on worker one
    # The other worker knows the address must wait: the state is in the database.
    assert wait_in(alert(guess(other_worker))) == 1
    assert wait_in(alert(login(other_worker.test_client(), mistyper))) == 1
    # The office user whose account is fine signs in on the other worker while the guesser goes on.
    for _ in range(5):
        guess(app)
    browser = other_worker.test_client()
    assert signed_in(login(browser, office))
    assert browser.get("/").status_code == 200
    clock.advance(1)
    assert signed_in(login(other_worker.test_client(), mistyper))


def test_parallel_guesses_on_two_workers_take_one_check(app, other_worker, clock):
    use_up_the_allowance(app)
    guess(app)
    clock.advance(1)  # the wait is over: one check is free
    before = failures(app)
    answers: list[str] = []
    start = threading.Barrier(8, timeout=60)

    def guesser(worker):
        client = worker.test_client()
        name = f"nobody{next(_made_up)}"
        token = csrf_token(client)  # the form first, then all at once
        start.wait()
        response = client.post("/auth/login", data={"username": name, "password": "guess-1", "csrf_token": token})
        answers.append(alert(response))

    threads = [threading.Thread(target=guesser, args=((app, other_worker)[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 8
    assert sum("用户名或密码错误" in answer for answer in answers) == 1
    assert failures(app) == before + 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginAddressWait)) == 1


def test_the_scheduler_prunes_waits_a_day_past(app):
    from crm.scheduler import prune_security_tables

    now = utcnow()
    with app.app_context():
        db.session.add(LoginAddressWait(ip="10.0.0.1", next_check_at=now - timedelta(days=2)))
        db.session.add(LoginAddressWait(ip="10.0.0.2", next_check_at=now - timedelta(minutes=5)))
        db.session.commit()
        prune_security_tables()
        assert list(db.session.scalars(select(LoginAddressWait.ip))) == ["10.0.0.2"]
