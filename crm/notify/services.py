"""Queueing notifications inside the business transaction."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app, g, has_app_context
from sqlalchemy import bindparam, func, insert, select, update

from crm.common.time import utcnow
from crm.extensions import db
from crm.notify.models import Delivery, Notification


def enabled_channels() -> list[str]:
    """External channels configured for this installation (the inbox is always on)."""
    channels = []
    if current_app.config.get("NOTIFY_EMAIL", True):
        channels.append("email")
    if current_app.config.get("NOTIFY_WEBHOOK_URL"):
        channels.append("webhook")
    return channels


def queue(user_id: int, kind: str, *, workflow=None, record_id=None, state=None, message=None) -> None:
    """Notify one user: an inbox row now, external deliveries after the commit."""
    queue_many(
        [
            {
                "user_id": user_id,
                "kind": kind,
                "workflow": workflow,
                "record_id": record_id,
                "state": state,
                "message": message,
            }
        ]
    )


def queue_many(rows: Iterable[dict]) -> int:
    """Bulk form of ``queue`` for the sweep: a few statements, whatever the number of rows."""
    rows = [dict(r) for r in rows]
    if not rows:
        return 0
    _forget_unread_count()
    now = utcnow()
    for row in rows:
        row.setdefault("created_at", now)
        row.setdefault("workflow", None)
        row.setdefault("record_id", None)
        row.setdefault("state", None)
        row.setdefault("message", None)
    channels = enabled_channels()
    if not channels:
        db.session.execute(insert(Notification), rows)
        return len(rows)
    # RETURNING gives the new ids on both SQLite (3.35+) and PostgreSQL.
    ids = db.session.scalars(insert(Notification).returning(Notification.id, sort_by_parameter_order=True), rows).all()
    db.session.execute(
        insert(Delivery),
        [
            {"notification_id": nid, "channel": channel, "status": "pending", "attempts": 0, "next_attempt_at": now}
            for nid in ids
            for channel in channels
        ],
    )
    return len(rows)


# Built once, on the table rather than the entity: the badge is counted on every page,
# and building the ORM statement with the user's id in it cost twice as long as running it.
_notifications = Notification.__table__
_UNREAD_COUNT = select(func.count()).where(
    _notifications.c.user_id == bindparam("user_id"), _notifications.c.read_at.is_(None)
)


def unread_count(user_id: int) -> int:
    """How many of the user's notifications are unread (an index-only count)."""
    return db.session.scalar(_UNREAD_COUNT, {"user_id": user_id})


def unread_count_of(user_id_column):
    """``unread_count`` as a scalar subquery of ``user_id_column``, to read with the user in one round trip."""
    return (
        select(func.count())
        .where(_notifications.c.user_id == user_id_column, _notifications.c.read_at.is_(None))
        .scalar_subquery()
    )


# The navbar's badge (crm/notify/views.unread_notifications) is counted once per request
# and kept in g.notify_unread: the user loader reads it with the user (see unread_count_of),
# otherwise the first page that shows it counts. Changing notifications forgets it.
def remember_unread_count(count: int) -> None:
    """Keep the signed-in user's unread count for this request's navbar."""
    g.notify_unread = count


def _forget_unread_count() -> None:
    if has_app_context():
        g.pop("notify_unread", None)


def inbox_query(user_id: int):
    """The user's notifications, newest first; nobody else's."""
    return (
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )


def mark_read(user_id: int, notification_id: int) -> bool:
    """Mark one of the user's notifications read; False when it is not theirs or does not exist.

    Reading twice keeps the first read time. Flushes; the request commits.
    """
    note = db.session.scalars(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user_id)
    ).first()
    if note is None:
        return False
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.flush()
        _forget_unread_count()
    return True


def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many. The request commits."""
    _forget_unread_count()
    return db.session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
