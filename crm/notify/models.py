from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.common.time import utcnow
from crm.extensions import db


class NotificationKind:
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    SLA_ESCALATION = "sla_escalation"
    TRANSITION = "transition"
    ASSIGNED = "assigned"  # a record was given to this user
    UNASSIGNED = "unassigned"  # a record this user held was given to someone else
    POOL_WARNING = "lead_pool_warning"
    RETURNED_TO_POOL = "lead_returned_to_pool"
    # The licence watch (crm.distributors.licences): ``message`` holds the licence's facts as JSON.
    LICENCE_EXPIRING = "licence_expiring"
    LICENCE_EXPIRED = "licence_expired"
    # Someone outside the lead's territories entered a look-alike (crm.leads.services.warn_of_duplicates):
    # ``message`` holds who and why as JSON.
    DUPLICATE_ELSEWHERE = "lead_duplicate_elsewhere"


class Notification(db.Model):
    """One message in one user's inbox. Text is rendered in the reader's language when shown."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    workflow: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    user = relationship("User")

    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)


class DeliveryStatus:
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send to (no email address, channel switched off); not retried
    FAILED = "failed"  # gave up after the last attempt


class Delivery(db.Model):
    """One notification to send over one external channel (email, webhook): an outbox row."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)

    notification = relationship(Notification)

    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)
