"""Sign-in, sign-out, password changes, throttling and the security audit log.

Services flush and return; the request that called them commits.
"""

from __future__ import annotations

import json
import math
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import joinedload

from crm.auth.models import AuditEvent, LoginAddressWait, LoginFailure, User, UserSession
from crm.auth.passwords import hash_password, needs_rehash, verify_password
from crm.common.errors import BusinessError
from crm.common.time import utcnow
from crm.db import insert_ignoring_duplicates
from crm.extensions import db
from crm.notify.services import remember_unread_count, unread_count_of


class LoginThrottled(BusinessError):
    """The account is locked for the window, or the address must wait before its next password check."""


class BadCredentials(BusinessError):
    pass


def client_ip() -> str:
    """The client's address; X-Forwarded-For is trusted only for PROXY_COUNT proxies."""
    proxies = current_app.config["PROXY_COUNT"]
    if proxies:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.remote_addr or "unknown"


def record_audit(event: str, *, user: User | None = None, username: str | None = None, **detail) -> None:
    """Append one row to the security log (who, when, from where, what)."""
    db.session.add(
        AuditEvent(
            event=event,
            user_id=user.id if user else None,
            username=(user.username if user else username),
            ip=client_ip() if request else None,
            detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
        )
    )


def _recent_failures(now: datetime, *conditions) -> int:
    since = now - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(*conditions, LoginFailure.at >= since)
    )


def normalize_username(username: str) -> str:
    return (username or "").strip().lower()


def _account_locked(username: str, now: datetime) -> bool:
    limit = current_app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
    return _recent_failures(now, LoginFailure.username == username) >= limit


def address_delay(failures: int) -> int:
    """Seconds an address waits between password checks with ``failures`` in the window.

    Nothing below LOGIN_MAX_FAILURES_PER_IP; then 1 s, doubling with each further
    failure, up to LOGIN_MAX_DELAY_SECONDS.
    """
    cfg = current_app.config
    excess = failures - cfg["LOGIN_MAX_FAILURES_PER_IP"]
    if excess < 0:
        return 0
    return min(2 ** min(excess, 30), cfg["LOGIN_MAX_DELAY_SECONDS"])


def _take_address_check(ip: str, now: datetime, delay: int) -> datetime | None:
    """Take the address's next password check: None if taken, else the instant it is free again.

    Taking it moves it ``delay`` seconds on, in one conditional statement, so of
    two workers (or a guesser's parallel requests) only one takes each check; on
    PostgreSQL the second UPDATE waits for the first to commit and then matches
    nothing. Most refusals only read.
    """
    table = LoginAddressWait.__table__
    opens_at = db.session.scalar(select(table.c.next_check_at).where(table.c.ip == ip))
    if opens_at is not None and opens_at > now:
        return opens_at
    moved_on = now + timedelta(seconds=delay)
    if opens_at is None:
        statement = insert_ignoring_duplicates(table, keys=["ip"]).values(ip=ip, next_check_at=moved_on)
    else:
        statement = update(table).where(table.c.ip == ip, table.c.next_check_at <= now).values(next_check_at=moved_on)
    # RETURNING rather than rowcount: psycopg reports no rowcount for an INSERT … ON CONFLICT DO NOTHING.
    if db.session.execute(statement.returning(table.c.ip)).first() is not None:
        return None
    return db.session.scalar(select(table.c.next_check_at).where(table.c.ip == ip))  # another worker took it


def _first_try_from(user: User | None, ip: str, now: datetime) -> bool:
    """An active account that has not failed from this address in the window."""
    if user is None or not user.active:
        return False
    return _recent_failures(now, LoginFailure.username == user.username, LoginFailure.ip == ip) == 0


def _address_must_wait(opens_at: datetime, now: datetime) -> LoginThrottled:
    seconds = max(1, math.ceil((opens_at - now).total_seconds()))
    return LoginThrottled(
        ngettext(
            "Many sign-ins from your network have failed. Wait %(num)d second and try again.",
            "Many sign-ins from your network have failed. Wait %(num)d seconds and try again.",
            seconds,
        )
    )


def authenticate(username: str, password: str, *, now: datetime | None = None) -> User:
    """Check a username and password, counting failures in the database.

    The counts live in the database, not in process memory, so the limits hold
    across gunicorn workers and hosts. Two rules, after OWASP's Authentication
    Cheat Sheet ("the counter of failed logins should be associated with the
    account itself, rather than the source IP address"; a lockout must not become
    a way to deny service to others):

    - **Per account**: LOGIN_MAX_FAILURES_PER_ACCOUNT failures for a username in
      the window lock it for the window, from every address; even the right
      password is refused, unchecked, so guessing cannot go on while locked.
    - **Per address, a pace and not a lock**: offices sign in from behind one NAT
      or proxy, so locking an address locked out every colleague of one guesser.
      Past LOGIN_MAX_FAILURES_PER_IP failures in the window the address must wait
      between password checks (:func:`address_delay`: 1 s, doubling per further
      failure, at most LOGIN_MAX_DELAY_SECONDS). A try inside the wait is answered
      "wait N seconds" without its password being checked or counted, with one
      exception that keeps the office open: an active account that has not failed
      from this address in the window is checked at once. Each account thus gets
      one unpaced guess per window from the address, which the guesser cannot aim
      (a wrong password there, or an unknown name, is answered exactly like any
      try inside the wait, after a password hash of the same cost). The price: a
      colleague who has mistyped, or whose name the guesser has tried, waits for
      the address's turn like the guesser (who, hammering, may take each turn
      first); to keep one person out a guesser must aim at their name, which the
      account lock already allows.

    Time is ``now`` when given (tests), else the clock.
    """
    now = now or utcnow()
    username = normalize_username(username)
    ip = client_ip()
    if _account_locked(username, now):
        record_audit("login_throttled", username=username, reason="account")
        raise LoginThrottled(
            _(
                "Too many failed sign-ins for this username. Wait %(minutes)d minutes and try again.",
                minutes=current_app.config["LOGIN_WINDOW_MINUTES"],
            )
        )
    user = db.session.scalar(select(User).where(User.username == username))
    address_failures = _recent_failures(now, LoginFailure.ip == ip)
    opens_at = None  # None: this try may have its password checked now
    if address_failures >= current_app.config["LOGIN_MAX_FAILURES_PER_IP"]:
        opens_at = _take_address_check(ip, now, address_delay(address_failures))
    if opens_at is not None and not _first_try_from(user, ip, now):
        verify_password(None, password)  # as long as a real check: the time does not tell which names exist
        record_audit("login_throttled", username=username, reason="address")
        raise _address_must_wait(opens_at, now)
    if not verify_password(user.password_hash if user else None, password) or not (user and user.active):
        db.session.add(LoginFailure(username=username, ip=ip, at=now))
        record_audit("login_failed", user=user, username=username, reason="inactive" if user else "bad_password")
        if opens_at is not None:
            raise _address_must_wait(opens_at, now)  # the answer of every other try inside the wait
        raise BadCredentials(_("Wrong username or password, or the account is deactivated."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # A success clears the account's counter (the address keeps the failures of other names).
    db.session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    return user


def start_session(user: User, remember: bool) -> UserSession:
    """Open a new sign-in session for ``user`` (a new id on every sign-in)."""
    cfg = current_app.config
    lifetime = (
        timedelta(days=cfg["REMEMBER_COOKIE_DURATION_DAYS"]) if remember else timedelta(hours=cfg["SESSION_IDLE_HOURS"])
    )
    session_row = UserSession(
        id=secrets.token_urlsafe(32),
        user=user,
        expires_at=utcnow() + lifetime,
        ip=client_ip(),
        user_agent=(request.user_agent.string or "")[:255],
    )
    db.session.add(session_row)
    user.session_id = session_row.id
    record_audit("login", user=user, remember=remember)
    return session_row


@cache
def _session_user_stmt():
    """The loader's query, built once with parameters (on first use: the mappers must be complete).

    It runs on every request, and building it afresh with the session id and the
    time as literals cost more than the primary-key lookup itself. The user's
    territories come in the same query: every scoped page needs them, and a lazy
    load of them was a second trip through the ORM. So does the count of unread
    notifications, which the navbar of every page shows: one round trip fewer.
    """
    return (
        select(User, unread_count_of(User.id))
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            UserSession.id == bindparam("session_id"),
            UserSession.expires_at > bindparam("now"),
            User.active.is_(True),
        )
        .options(joinedload(User.territories))
    )


def load_session_user(session_id: str) -> User | None:
    """The user behind a live sign-in session id, or None (Flask-Login's loader)."""
    params = {"session_id": session_id, "now": utcnow()}
    row = db.session.execute(_session_user_stmt(), params).unique().first()
    if row is None:
        return None
    user, unread = row
    user.session_id = session_id
    remember_unread_count(unread)
    return user


def end_session(user: User) -> None:
    """Sign out: the session row goes, so its cookies (remember-me too) stop working."""
    if user.session_id:
        db.session.execute(delete(UserSession).where(UserSession.id == user.session_id))
    record_audit("logout", user=user)


def end_all_sessions(user: User, *, keep: str | None = None) -> None:
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if keep:
        stmt = stmt.where(UserSession.id != keep)
    db.session.execute(stmt)


def check_password_strength(user: User | None, password: str) -> None:
    """Refuse passwords that are too short or equal to the username."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise BusinessError(_("The password must be at least %(n)d characters long.", n=minimum))
    if user is not None and password.strip().lower() == user.username.lower():
        raise BusinessError(_("The password must not be the username."))


def change_password(user: User, current_password: str, new_password: str) -> None:
    """The user changes their own password; their other sign-ins end."""
    if not verify_password(user.password_hash, current_password):
        record_audit("password_change_failed", user=user)
        raise BusinessError(_("The current password is wrong."))
    check_password_strength(user, new_password)
    if verify_password(user.password_hash, new_password):
        raise BusinessError(_("Choose a password different from the current one."))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    end_all_sessions(user, keep=user.session_id)
    record_audit("password_changed", user=user)
