"""The licence watch (证照效期预警): licences that expire soon, or have, are flagged and notified.

A distributor may trade drugs only while its drug-trading licence (药品经营许可证)
and GSP certificate are valid, so the scheduler runs ``watch`` once a day. A
current document (not superseded) of a distributor that is not terminated is
flagged at three levels: expiring within 90 days, within 30 days, expired.
Each level is notified once — to the distributor's rep and its active portal
users, and an expired licence also to the managers of the distributor's
territory. A renewed licence is a new document that supersedes the old one,
so it starts unflagged.

Exactly once, even with two runs at the same moment: each level is a
conditional UPDATE (``… WHERE expiry_alert`` is below that level) with
RETURNING, so a row is raised by one transaction only, and only the
transaction that raised it notifies (on PostgreSQL the second UPDATE waits for
the first one's row lock and then finds the row no longer matches; on SQLite
write transactions begin with BEGIN IMMEDIATE and so run one after the other).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.orm import contains_eager

from crm.access.roles import Role
from crm.access.scoping import scoped
from crm.auth.models import User, user_territories
from crm.common.time import local_today
from crm.distributors.models import EXPIRING_KINDS, Distributor, ExpiryAlert, QualificationDocument
from crm.extensions import db
from crm.notify import queue_many
from crm.notify.models import NotificationKind
from crm.territories.models import Territory, code_range

WARN_DAYS = 90  # the screening gate asks for 90 days of validity too
URGENT_DAYS = 30

# Least to most severe: a level is raised, never lowered, while the dates stand.
SEVERITY = (ExpiryAlert.WITHIN_90, ExpiryAlert.WITHIN_30, ExpiryAlert.EXPIRED)

# An arbitrary, fixed key for the watch's advisory lock ("LIC" in ASCII).
WATCH_LOCK_KEY = 0x4C4943

# Keeps each IN list well under SQLite's parameter limit.
_CHUNK = 500


def level_for(expires_on: date | None, today: date) -> ExpiryAlert | None:
    """How close to expiry a licence valid through ``expires_on`` is on ``today``; None when not close.

    The expiry date is the last valid day: a licence expiring today is still
    valid (within 30 days), the day after it is expired.
    """
    if expires_on is None:
        return None
    days = (expires_on - today).days
    if days < 0:
        return ExpiryAlert.EXPIRED
    if days <= URGENT_DAYS:
        return ExpiryAlert.WITHIN_30
    if days <= WARN_DAYS:
        return ExpiryAlert.WITHIN_90
    return None


def days_left(expires_on: date, today: date) -> int:
    """Days until ``expires_on`` (0 on the day, negative once expired)."""
    return (expires_on - today).days


def _dates_at(level: ExpiryAlert, today: date):
    """SQL: the expiry dates that give ``level`` on ``today`` (the mirror of ``level_for``)."""
    column = QualificationDocument.expires_on
    if level == ExpiryAlert.EXPIRED:
        return column < today
    if level == ExpiryAlert.WITHIN_30:
        return and_(column >= today, column <= today + timedelta(days=URGENT_DAYS))
    return and_(column > today + timedelta(days=URGENT_DAYS), column <= today + timedelta(days=WARN_DAYS))


def _below(level: ExpiryAlert):
    """SQL: the stored flag is less severe than ``level`` (or there is none)."""
    lower = SEVERITY[: SEVERITY.index(level)]
    return or_(QualificationDocument.expiry_alert.is_(None), QualificationDocument.expiry_alert.in_(lower))


def _watched():
    """SQL: current expiring-kind documents of distributors that are not terminated."""
    return and_(
        QualificationDocument.superseded_at.is_(None),
        QualificationDocument.kind.in_(EXPIRING_KINDS),
        QualificationDocument.distributor_id.in_(select(Distributor.id).where(Distributor._state != "terminated")),
    )


def licences_of(distributor_id: int) -> list[QualificationDocument]:
    """A distributor's current licences with an expiry date, soonest first (for ``_licences.html``)."""
    return list(
        db.session.scalars(
            select(QualificationDocument)
            .where(
                QualificationDocument.distributor_id == distributor_id,
                QualificationDocument.superseded_at.is_(None),
                QualificationDocument.kind.in_(EXPIRING_KINDS),
                QualificationDocument.expires_on.is_not(None),
            )
            .order_by(QualificationDocument.expires_on, QualificationDocument.id)
        )
    )


@dataclass
class WatchResult:
    locked_out: bool = False
    flagged: dict[ExpiryAlert, int] = field(default_factory=dict)
    notifications: int = 0

    @property
    def total(self) -> int:
        return sum(self.flagged.values())


def _take_lock() -> bool:
    """One watch at a time on PostgreSQL (the conditional UPDATEs alone already notify once; the lock
    also spares two runs from waiting on each other's rows). SQLite serialises writers anyway."""
    if db.engine.dialect.name == "postgresql":
        return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": WATCH_LOCK_KEY}))
    return True


def _forget_flags_that_no_longer_hold(today: date) -> None:
    """A flag the dates no longer justify (the expiry date was corrected later) drops to what they say.

    Nobody is notified of a lower level; a later rise is notified again.
    """
    doc = QualificationDocument
    beyond = or_(doc.expires_on.is_(None), doc.expires_on > today + timedelta(days=WARN_DAYS))
    steps = [(beyond, SEVERITY, None)]
    for index, level in enumerate(SEVERITY[:-1]):
        steps.append((_dates_at(level, today), SEVERITY[index + 1 :], level))
    for dates, stored, lowered in steps:
        db.session.execute(
            update(doc)
            .where(dates, doc.expiry_alert.in_(stored))
            .values(expiry_alert=lowered)
            .execution_options(synchronize_session=False)
        )


def _raise(level: ExpiryAlert, today: date) -> list:
    """Flag every watched document whose dates reach ``level`` and whose flag is below it; the rows raised."""
    doc = QualificationDocument
    return db.session.execute(
        update(doc)
        .where(_watched(), _dates_at(level, today), _below(level))
        .values(expiry_alert=level)
        .returning(doc.id, doc.distributor_id, doc.kind, doc.number, doc.expires_on)
        .execution_options(synchronize_session=False)
    ).all()


def _chunks(ids):
    ids = sorted(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _distributors(ids) -> dict[int, tuple]:
    """id → (name, state, rep id, territory code) of the distributors named."""
    found = {}
    for chunk in _chunks(ids):
        rows = db.session.execute(
            select(
                Distributor.id,
                Distributor.name,
                Distributor._state,
                Distributor.assignee_id,
                Distributor.territory_code,
            ).where(Distributor.id.in_(chunk))
        )
        found.update({row[0]: tuple(row[1:]) for row in rows})
    return found


def _portal_users(distributor_ids) -> dict[int, list[int]]:
    """distributor id → its active portal users."""
    users = defaultdict(list)
    for chunk in _chunks(distributor_ids):
        rows = db.session.execute(
            select(User.company_id, User.id)
            .where(User.company_id.in_(chunk), User.role == Role.DISTRIBUTOR, User.active.is_(True))
            .order_by(User.id)
        )
        for company_id, user_id in rows:
            users[company_id].append(user_id)
    return users


def _managers() -> list[tuple[int, list[tuple[str, str]]]]:
    """Every active manager with the code ranges of their territories."""
    ranges = defaultdict(list)
    rows = db.session.execute(
        select(User.id, Territory.code, Territory.level)
        .join(user_territories, user_territories.c.user_id == User.id)
        .join(Territory, Territory.code == user_territories.c.territory_code)
        .where(User.role == Role.MANAGER, User.active.is_(True))
        .order_by(User.id)
    )
    for user_id, code, level in rows:
        ranges[user_id].append(code_range(code, level))
    return list(ranges.items())


def _facts(row, company: str) -> str:
    """What the notification says, as data: rendered in the reader's language when read."""
    return json.dumps(
        {
            "company": company,
            "document": str(row.kind),
            "number": row.number,
            "expires_on": row.expires_on.isoformat(),
        },
        ensure_ascii=False,
    )


def watch(today: date | None = None) -> str | None:
    """The daily job: flag licences expiring within 90 or 30 days or expired, notify each level once; commit.

    Returns a line for the scheduler's log, or None when nothing was flagged.
    Idempotent and safe to run concurrently (see the module docstring).
    """
    result = run_watch(today)
    if result.locked_out:
        return "another licence watch held the lock"
    if not result.total:
        return None
    counts = ", ".join(f"{result.flagged.get(level, 0)} {level.value}" for level in SEVERITY)
    return f"licences flagged: {counts}; {result.notifications} notifications"


def run_watch(today: date | None = None) -> WatchResult:
    """``watch`` with its counts, for tests and the command line."""
    today = today or local_today()
    result = WatchResult()
    if not _take_lock():
        db.session.rollback()
        result.locked_out = True
        return result
    _forget_flags_that_no_longer_hold(today)
    raised = {level: _raise(level, today) for level in reversed(SEVERITY)}
    result.flagged = {level: len(rows) for level, rows in raised.items()}
    if not result.total:
        db.session.commit()
        return result
    distributor_ids = {row.distributor_id for rows in raised.values() for row in rows}
    distributors = _distributors(distributor_ids)
    portal = _portal_users(distributor_ids)
    managers = _managers() if raised[ExpiryAlert.EXPIRED] else []
    notes = []
    for level in reversed(SEVERITY):
        kind = NotificationKind.LICENCE_EXPIRED if level == ExpiryAlert.EXPIRED else NotificationKind.LICENCE_EXPIRING
        for row in sorted(raised[level], key=lambda r: r.id):
            name, state, rep_id, territory_code = distributors[row.distributor_id]
            recipients = [rep_id] if rep_id else []
            recipients += portal.get(row.distributor_id, [])
            if level == ExpiryAlert.EXPIRED:
                recipients += [uid for uid, ranges in managers if any(lo <= territory_code <= hi for lo, hi in ranges)]
            message = _facts(row, name)
            for user_id in dict.fromkeys(recipients):  # once each, in order
                notes.append(
                    {
                        "user_id": user_id,
                        "kind": kind,
                        "workflow": "distributors",
                        "record_id": row.distributor_id,
                        "state": state,
                        "message": message,
                    }
                )
    result.notifications = queue_many(notes)
    db.session.commit()
    return result


# --- the manager report ---------------------------------------------------------


def report_query(user, today: date, level: ExpiryAlert | None = None):
    """Current licences expired or expiring within 90 days at distributors ``user`` may see, soonest first.

    The level is read from the dates, so the report is right even before
    today's run of the watch. Each row comes with its distributor loaded.
    """
    visible = scoped(Distributor, user).with_only_columns(Distributor.id)
    dates = _dates_at(level, today) if level else QualificationDocument.expires_on <= today + timedelta(days=WARN_DAYS)
    return (
        select(QualificationDocument)
        .join(QualificationDocument.distributor)
        .options(contains_eager(QualificationDocument.distributor))
        .where(_watched(), dates, QualificationDocument.distributor_id.in_(visible))
        .order_by(QualificationDocument.expires_on, QualificationDocument.id)
    )


__all__ = [
    "SEVERITY",
    "WatchResult",
    "days_left",
    "level_for",
    "licences_of",
    "report_query",
    "run_watch",
    "watch",
]
