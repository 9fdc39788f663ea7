"""Queueing notifications inside the business transaction."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from sqlalchemy import insert, select

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


def unread_count(user_id: int) -> int:
    from sqlalchemy import func

    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
