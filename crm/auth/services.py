"""Sign-in, sign-out, password changes, throttling and the security audit log.

Services flush and return; the request that called them commits.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from functools import cache

from flask import current_app, request
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import joinedload

from crm.auth.models import AuditEvent, LoginFailure, User, UserSession
from crm.auth.passwords import hash_password, needs_rehash, verify_password
from crm.common.errors import BusinessError
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify.services import remember_unread_count, unread_count_of


class LoginThrottled(BusinessError):
    """Too many recent failures for this account or this address."""


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


def _recent_failures(column, value) -> int:
    since = utcnow() - timedelta(minutes=current_app.config["LOGIN_WINDOW_MINUTES"])
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(column == value, LoginFailure.at >= since)
    )


def is_throttled(username: str, ip: str) -> bool:
    cfg = current_app.config
    return (
        _recent_failures(LoginFailure.username, username) >= cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
        or _recent_failures(LoginFailure.ip, ip) >= cfg["LOGIN_MAX_FAILURES_PER_IP"]
    )


def normalize_username(username: str) -> str:
    return (username or "").strip().lower()


def authenticate(username: str, password: str) -> User:
    """Check a username and password, counting failures in the database.

    The count lives in the database, not in process memory, so the limit holds
    across gunicorn workers and hosts. Throttled attempts are refused before the
    password is checked, so that guessing cannot continue while locked.
    """
    username = normalize_username(username)
    ip = client_ip()
    window = current_app.config["LOGIN_WINDOW_MINUTES"]
    if is_throttled(username, ip):
        record_audit("login_throttled", username=username)
        raise LoginThrottled(_("Too many failed sign-ins. Wait %(minutes)d minutes and try again.", minutes=window))
    user = db.session.scalar(select(User).where(User.username == username))
    if not verify_password(user.password_hash if user else None, password) or not (user and user.active):
        db.session.add(LoginFailure(username=username, ip=ip))
        record_audit("login_failed", user=user, username=username, reason="inactive" if user else "bad_password")
        raise BadCredentials(_("Wrong username or password, or the account is deactivated."))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # A success clears the account's counter (the per-IP counter stays).
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
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_all_sessions(user, keep=user.session_id)
    record_audit("password_changed", user=user)
