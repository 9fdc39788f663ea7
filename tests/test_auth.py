"""Sign-in, sessions, CSRF, throttling and the security log, as a user and an attacker see them."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import AuditEvent, LoginFailure, User, UserSession
from crm.extensions import db
from tests.helpers import PASSWORD, csrf_token, login, post


def _events(app, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def _session_count(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id))


def test_wrong_password_is_refused_with_a_message_and_logged(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    response = login(client, rep, "not-the-password")
    assert response.status_code == 200
    assert client.get("/").status_code == 302  # still signed out
    failed = _events(app, "login_failed")
    assert [(e.username, e.ip) for e in failed] == [(rep.username, "127.0.0.1")]


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    wrong_password = login(client, rep, "not-the-password").get_data(as_text=True)
    unknown_user = login(client, "nobody-here", "whatever-it-is").get_data(as_text=True)

    def message(page):
        return page.split('role="alert"')[1].split("</div>")[0]

    assert message(wrong_password) == message(unknown_user)


def test_username_is_case_and_space_insensitive(client, make_user):
    make_user(Role.REP, territories=["440300"], username="lihua")
    assert login(client, "  LiHua ", PASSWORD).status_code == 302


def test_password_hash_is_argon2id_at_owasp_minimum(app, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    with app.app_context():
        stored = db.session.get(User, rep.id).password_hash
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism == 1


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/auth/login", {"username": "admin", "password": "x"}),
        ("/auth/logout", {}),
        ("/language", {"locale": "en"}),
    ],
)
def test_post_without_csrf_token_is_refused(client, path, data):
    response = client.post(path, data=data)
    assert response.status_code == 400


def test_post_with_a_token_from_another_session_is_refused(client, app, make_user):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    other = app.test_client()
    foreign_token = csrf_token(other)
    response = client.post("/admin/users/new", data={"csrf_token": foreign_token, "username": "x"})
    assert response.status_code == 400


def test_a_new_session_id_on_every_sign_in(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    first = client.get_cookie("crm_session").value
    with app.app_context():
        first_ids = set(db.session.scalars(select(UserSession.id).where(UserSession.user_id == rep.id)))
    post(client, "/auth/logout")
    login(client, rep)
    second = client.get_cookie("crm_session").value
    with app.app_context():
        second_ids = set(db.session.scalars(select(UserSession.id).where(UserSession.user_id == rep.id)))
    assert first != second
    assert len(second_ids) == 1
    assert not first_ids & second_ids


def test_reused_session_cookie_is_refused_after_logout(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    stolen = client.get_cookie("crm_session").value
    post(client, "/auth/logout")

    attacker = app.test_client()
    attacker.set_cookie("crm_session", stolen)
    response = attacker.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_remember_me_cookie_stops_working_after_logout(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep, remember=True)
    remember = client.get_cookie("crm_remember")
    assert remember is not None
    assert remember.http_only

    # A browser that only kept the remember-me cookie is signed back in...
    fresh = app.test_client()
    fresh.set_cookie("crm_remember", remember.value)
    assert fresh.get("/").status_code == 200

    # ...until the user signs out: then the same cookie is worthless.
    post(client, "/auth/logout")
    later = app.test_client()
    later.set_cookie("crm_remember", remember.value)
    assert later.get("/").status_code == 302


def test_deactivation_ends_open_sessions_at_once(app, client, make_user):
    admin = make_user(Role.ADMIN)
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep, remember=True)
    assert client.get("/").status_code == 200

    admin_client = app.test_client()
    login(admin_client, admin)
    post(admin_client, f"/admin/users/{rep.id}/active", {"active": "0"})

    assert client.get("/").status_code == 302
    assert _session_count(app, rep.id) == 0
    assert login(app.test_client(), rep).status_code == 200  # the form again: refused


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    phone = app.test_client()
    login(phone, rep)
    login(client, rep)
    response = post(
        client,
        "/auth/password",
        {"current_password": PASSWORD, "new_password": "A-new-secret-42", "confirm": "A-new-secret-42"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert phone.get("/").status_code == 302
    assert login(app.test_client(), rep, "A-new-secret-42").status_code == 302
    assert _events(app, "password_changed")


def test_password_change_with_wrong_current_password_changes_nothing(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    response = post(
        client,
        "/auth/password",
        {"current_password": "wrong-one-here", "new_password": "A-new-secret-42", "confirm": "A-new-secret-42"},
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.get_data(as_text=True)
    assert login(app.test_client(), rep, PASSWORD).status_code == 302


def test_account_is_throttled_after_repeated_failures(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    limit = app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        login(app.test_client(), rep, "wrong-password")
    # The right password no longer opens the account while the window lasts.
    response = login(client, rep)
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    assert _events(app, "login_throttled")
    # Other accounts are not affected by one account's lock (their IP limit is higher).
    other = make_user(Role.REP, territories=["440300"])
    assert login(app.test_client(), other).status_code == 302


def test_failures_from_one_address_pace_it_but_lock_out_no_colleague(app, make_user, monkeypatch):
    """The reported case at the default limits: twenty made-up names from one address (tests/test_login_pacing.py)."""
    from crm.auth import services
    from crm.common.time import utcnow

    frozen = utcnow()
    monkeypatch.setattr(services, "utcnow", lambda: frozen)  # the 1 s wait does not run out on a slow machine
    limit = app.config["LOGIN_MAX_FAILURES_PER_IP"]
    colleague = make_user(Role.REP, territories=["440300"])
    for i in range(limit + 1):  # the allowance, then the check it leaves
        login(app.test_client(), f"guess{i}", "wrong-password")
    # The guesser's next try waits; it is not checked.
    refused = login(app.test_client(), "guess-next", "wrong-password").get_data(as_text=True)
    assert "您所在网络的登录失败次数过多" in refused
    assert len(_events(app, "login_failed")) == limit + 1
    # A colleague behind the same address whose account is fine signs in at once.
    assert login(app.test_client(), colleague).status_code == 302


def test_successful_login_clears_the_account_counter(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] - 1):
        login(app.test_client(), rep, "wrong-password")
    assert login(client, rep).status_code == 302
    with app.app_context():
        left = db.session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username == rep.username)
        )
    assert left == 0


def test_login_redirects_only_to_this_site(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    token = csrf_token(client)
    response = client.post(
        "/auth/login?next=//evil.example/steal",
        data={"username": rep.username, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_security_headers_and_cookie_flags(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    response = login(client, rep)
    cookie = client.get_cookie("crm_session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert response.status_code == 302


def test_audit_log_records_sign_in_and_out_with_ip(app, client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    post(client, "/auth/logout")
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.event, AuditEvent.user_id, AuditEvent.ip).order_by(AuditEvent.id)
        ).all()
    assert [r.event for r in rows] == ["login", "logout"]
    assert {r.user_id for r in rows} == {rep.id}
    assert {r.ip for r in rows} == {"127.0.0.1"}


def test_audit_events_cannot_be_changed_or_deleted(app, client, make_user):
    from crm.auth.models import AppendOnlyViolation

    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    with app.app_context():
        event = db.session.scalars(select(AuditEvent)).first()
        event.detail = "tampered"
        with pytest.raises(AppendOnlyViolation):
            db.session.flush()
        db.session.rollback()
        event = db.session.scalars(select(AuditEvent)).first()
        db.session.delete(event)
        with pytest.raises(AppendOnlyViolation):
            db.session.flush()
        db.session.rollback()
