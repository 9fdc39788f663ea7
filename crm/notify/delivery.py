"""The delivery job: send what is due in the outbox, one row at a time.

Run by the scheduler every NOTIFY_DELIVERY_SECONDS. Rules:
- Each row is claimed before it is sent, by a conditional UPDATE
  (``… WHERE status = 'pending' AND attempts = :seen``) that bumps ``attempts``;
  of two jobs that saw the same row only one claims it, so a message goes out once.
  The claim also moves ``next_attempt_at`` a lease ahead: if the process dies
  while sending, the row comes back after the lease instead of staying stuck.
- No transaction is open while a server is being talked to (on SQLite it would
  hold the write lock for the whole SMTP or HTTP exchange).
- Every row's outcome is committed on its own, and only outbox rows are written:
  a failing channel never blocks the others or touches business data.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from crm.auth.models import User
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify.channels import CHANNELS, DeliveryFailed, SkipDelivery
from crm.notify.models import Delivery, DeliveryStatus, Notification
from crm.notify.rendering import OutgoingMessage, outgoing_message

log = logging.getLogger(__name__)

# Longer than any one send can take (SMTP timeout included).
CLAIM_LEASE = timedelta(minutes=10)
# After this many failures of one channel in a run, leave its other rows for the next run
# rather than wait out a dead server's timeout 200 times.
CHANNEL_FAILURES_PER_RUN = 3


@dataclass
class DeliveryRun:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    taken_by_other_job: int = 0
    deferred: int = 0

    def __str__(self) -> str:
        return (
            f"{self.sent} sent, {self.skipped} skipped, {self.retried} to retry, {self.failed} failed"
            f", {self.taken_by_other_job} taken by another job, {self.deferred} deferred"
        )


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after the ``attempt``-th failed attempt: 1, 2, 4 … minutes."""
    return timedelta(minutes=2 ** (attempt - 1))


def deliver_pending(now: datetime | None = None, limit: int = 200) -> DeliveryRun:
    """Send up to ``limit`` due deliveries; mark each sent, skipped, to retry, or failed. Safe to run concurrently."""
    now = now or utcnow()
    max_attempts = int(current_app.config.get("NOTIFY_MAX_ATTEMPTS") or 5)
    run = DeliveryRun()
    channel_failures: Counter[str] = Counter()
    for delivery_id, seen_attempts, channel in _due(now, limit):
        if channel_failures[channel] >= CHANNEL_FAILURES_PER_RUN:
            run.deferred += 1
            continue
        try:
            claimed = _claim(delivery_id, seen_attempts, now)
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("notification delivery %s: could not be claimed", delivery_id)
            continue
        if not claimed:
            run.taken_by_other_job += 1
            continue
        attempt = seen_attempts + 1
        try:
            _send(delivery_id, channel)
        except SkipDelivery as reason:
            _finish(delivery_id, attempt, status=DeliveryStatus.SKIPPED, last_error=str(reason))
            run.skipped += 1
        except Exception as exc:
            channel_failures[channel] += 1
            error = str(exc) if isinstance(exc, DeliveryFailed) else f"{type(exc).__name__}: {exc}"
            if attempt >= max_attempts:
                log.error(
                    "notification delivery %s (%s) failed for good after %d attempts: %s",
                    delivery_id,
                    channel,
                    attempt,
                    error,
                )
                _finish(delivery_id, attempt, status=DeliveryStatus.FAILED, last_error=error)
                run.failed += 1
            else:
                retry_at = now + retry_delay(attempt)
                log.warning(
                    "notification delivery %s (%s) attempt %d failed, retry at %s UTC: %s",
                    delivery_id,
                    channel,
                    attempt,
                    retry_at,
                    error,
                    exc_info=not isinstance(exc, DeliveryFailed),
                )
                _finish(delivery_id, attempt, next_attempt_at=retry_at, last_error=error)
                run.retried += 1
        else:
            _finish(delivery_id, attempt, status=DeliveryStatus.SENT, sent_at=utcnow(), last_error=None)
            run.sent += 1
    return run


def _due(now: datetime, limit: int) -> list[tuple[int, int, str]]:
    """(id, attempts, channel) of the rows due now, oldest first; the read transaction ends here."""
    rows = db.session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.channel)
        .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    ).all()
    db.session.commit()
    return [tuple(row) for row in rows]


def _claim(delivery_id: int, seen_attempts: int, now: datetime) -> bool:
    """Take the row for this job, unless another job took it since we read it."""
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == seen_attempts,
        )
        .values(attempts=seen_attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _send(delivery_id: int, channel: str) -> None:
    send = CHANNELS.get(channel)
    if send is None:
        raise DeliveryFailed(f"unknown channel {channel!r}")
    message = _message_for(delivery_id)
    send(delivery_id, message)


def _message_for(delivery_id: int) -> OutgoingMessage:
    """Render the message, then end the transaction before any server is contacted."""
    try:
        note, user = db.session.execute(
            select(Notification, User)
            .join(Delivery, Delivery.notification_id == Notification.id)
            .join(User, User.id == Notification.user_id)
            .where(Delivery.id == delivery_id)
        ).one()
        if not user.active:
            raise SkipDelivery("the user is deactivated")
        return outgoing_message(user, note)
    finally:
        db.session.rollback()


def _finish(delivery_id: int, attempt: int, **values) -> None:
    """Record the outcome of the attempt this job claimed; committed on its own."""
    try:
        result = db.session.execute(
            update(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.attempts == attempt,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("notification delivery %s: outcome %s not recorded", delivery_id, values)
        return
    if result.rowcount != 1:
        log.warning("notification delivery %s: claim lost before the outcome was recorded", delivery_id)


def deliver_notifications() -> str:
    """The scheduler's job (see crm.scheduler): one run of ``deliver_pending``, summarised for the log."""
    return str(deliver_pending())
