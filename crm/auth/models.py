"""Users, their sign-in sessions, login failures and the security audit log."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    event,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.access.roles import Role
from crm.common.enums import enum_column
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l

user_territories = Table(
    "user_territories",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("territory_code", ForeignKey("territories.code"), primary_key=True),
)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    # E.164, like every phone in the database; shown nationally.
    mobile: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A manager with director (招商总监) authority: gives the second approval of key-region cases.
    is_director: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    locale: Mapped[str | None] = mapped_column(String(8))
    company_id: Mapped[int | None] = mapped_column(
        # use_alter: users and distributors refer to each other (a distributor's rep is a user).
        ForeignKey("distributors.id", use_alter=True),
        index=True,
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when an admin creates the account or resets its password: the password someone else
    # chose must be replaced at the next sign-in before any other page opens.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    territories: Mapped[list[Territory]] = relationship(  # noqa: F821
        secondary=user_territories, order_by="Territory.code"
    )
    company: Mapped[Distributor | None] = relationship(foreign_keys=[company_id])  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    # Flask-Login protocol. The id handed to Flask-Login is the sign-in session's
    # id, not the user's: logging out or deactivating deletes the session row,
    # which invalidates the session cookie and the remember-me cookie at once.
    session_id = None  # set by the loader; not a column
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str | None:
        return self.session_id

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class UserSession(db.Model):
    """One signed-in browser. Deleting the row ends that sign-in everywhere it is used."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class LoginFailure(db.Model):
    """A failed sign-in, counted per account and per IP to throttle guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_ip_at", "ip", "at"),
    )


class LoginAddressWait(db.Model):
    """When an address with too many recent failures may next have a password checked.

    One row per such address, taken by a single conditional UPDATE (or INSERT), so
    that two workers cannot both take the same check (see crm.auth.services).
    """

    __tablename__ = "login_address_waits"

    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_check_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEvent(db.Model):
    """Security log (OWASP ASVS V16): append-only; rows are never updated or deleted."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User | None] = relationship()

    @property
    def label(self) -> str:
        """The event in words, in the reader's language (the code itself for unknown events)."""
        return str(AUDIT_EVENT_LABELS.get(self.event, self.event))

    @property
    def details(self) -> list[tuple[str, object]]:
        """(label, value) pairs of the detail JSON, for display."""
        if not self.detail:
            return []
        try:
            data = json.loads(self.detail)
        except ValueError:
            return [("", self.detail)]
        return [(str(AUDIT_DETAIL_LABELS.get(k, k)), v) for k, v in data.items()]


AUDIT_EVENT_LABELS = {
    "login": _l("Signed in"),
    "login_failed": _l("Sign-in failed"),
    "login_throttled": _l("Sign-in blocked after repeated failures"),
    "logout": _l("Signed out"),
    "password_changed": _l("Changed own password"),
    "password_change_failed": _l("Password change failed"),
    "password_reset": _l("Reset a user's password"),
    "user_created": _l("Created a user"),
    "user_updated": _l("Edited a user"),
    "role_changed": _l("Changed a user's role"),
    "user_activated": _l("Reactivated a user"),
    "user_deactivated": _l("Deactivated a user"),
    "sla_rule_changed": _l("Changed an SLA rule"),
    "sla_rule_reset": _l("Reset an SLA rule to its default"),
    "holiday_added": _l("Added holiday calendar days"),
    "holiday_deleted": _l("Deleted a holiday calendar day"),
    "holiday_year_completed": _l("Marked a year's holiday plan complete"),
    "holiday_year_reopened": _l("Reopened a year's holiday plan"),
}

AUDIT_DETAIL_LABELS = {
    "target": _l("Account"),
    "role": _l("Role"),
    "remember": _l("Keep signed in"),
    "reason": _l("Reason"),
    "workflow": _l("Workflow"),
    "state": _l("State"),
    "before": _l("Before"),
    "after": _l("After"),
    "first": _l("From"),
    "last": _l("To"),
    "working_day": _l("Working day"),
    "name": _l("Name"),
    "day": _l("Day"),
    "year": _l("Year"),
}


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_change(_mapper, _connection, target):
    raise AppendOnlyViolation(f"audit event {target.id} is append-only")
