"""The lead pool (公海): leads nobody works on go back to their territory, and reps claim them.

An open lead whose owner has not touched it for ``LEAD_POOL_DAYS`` working days
returns to the pool; one working day before, the owner is warned once. Idle
time runs from the latest of the last touch, the last state change and the
creation, in working time on the installation's calendar.

The scheduler runs ``run_pool_jobs`` every 15 minutes. Each step is a
conditional UPDATE, so two runs at once (or a run racing a rep's touch) change
a lead once and notify once: the return matches the (id, version) it read, and
any write through the ORM bumps the version; the warning only sets an empty
``pool_warned_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import abort, current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, tuple_, update

from crm.access.roles import Role
from crm.access.scoping import scoped
from crm.common.errors import BusinessError
from crm.common.time import utcnow
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.workflow import OPEN_STATES
from crm.notify import queue_many
from crm.notify.models import NotificationKind
from crm.sla.calendar import current_calendar
from crm.workflow import engine

# Notification kinds (rendered in crm/notify/rendering.py).
POOL_WARNING = NotificationKind.POOL_WARNING
RETURNED_TO_POOL = NotificationKind.RETURNED_TO_POOL

# Keeps each UPDATE's parameter list well under SQLite's limit.
_CHUNK = 500


@dataclass
class PoolRunResult:
    returned: int = 0
    warned: int = 0
    notifications: int = 0


def pool_days() -> int:
    return int(current_app.config["LEAD_POOL_DAYS"])


def max_open_leads() -> int:
    return int(current_app.config["LEAD_MAX_OPEN_PER_REP"])


def working_day(calendar) -> timedelta:
    """The working time of one working day on ``calendar`` (9 h on 09:00–18:00, 8 h with a lunch break)."""
    day = datetime(2000, 1, 1)
    return sum(
        (datetime.combine(day, end) - datetime.combine(day, start) for start, end in calendar.hours.periods),
        timedelta(0),
    )


def idle_since(last_touch_at, state_entered_at, owned_since) -> datetime:
    """When the owner last did something with the lead: a touch, a state change, or getting it."""
    return max(t for t in (last_touch_at, state_entered_at, owned_since) if t is not None)


# When the current owner got the lead; rows from before owned_since existed count from creation.
_owned_since = func.coalesce(Lead.owned_since, Lead.created_at)


def _idle_before(bound: datetime):
    """SQL: every clue of activity is at or before ``bound`` (portable: no GREATEST, which SQLite lacks)."""
    return and_(
        func.coalesce(Lead.last_touch_at, _owned_since) <= bound,
        func.coalesce(Lead.state_entered_at, _owned_since) <= bound,
        _owned_since <= bound,
    )


def _wall_clock_bound(now: datetime, working_days: int) -> datetime:
    # N working days take at least N-1 calendar days plus one working day's hours
    # (Monday 09:00 + 5 × 9 h ends Friday 18:00), so N-1 calendar days is a safe
    # pre-filter: it never drops a lead that is due, and keeps the candidates few.
    return now - timedelta(days=max(working_days - 1, 0))


def _owned_open_leads():
    return and_(Lead.in_pool.is_(False), Lead._state.in_(OPEN_STATES))


def _candidates(bound: datetime, *extra):
    return db.session.execute(
        select(
            Lead.id,
            Lead.version,
            Lead.assignee_id,
            Lead._state.label("state"),
            Lead.last_touch_at,
            Lead.state_entered_at,
            _owned_since.label("owned_since"),
        ).where(_owned_open_leads(), _idle_before(bound), *extra)
    ).all()


def _clear_stale_warnings() -> None:
    """A warning given before the owner's latest touch or state change no longer holds."""
    db.session.execute(
        update(Lead)
        .where(
            Lead.pool_warned_at.is_not(None),
            or_(Lead.last_touch_at > Lead.pool_warned_at, Lead.state_entered_at > Lead.pool_warned_at),
        )
        .values(pool_warned_at=None)
        .execution_options(synchronize_session=False)
    )


def return_stale_leads(now: datetime | None = None) -> PoolRunResult:
    """Return every open lead idle for ``LEAD_POOL_DAYS`` working days to its pool; commit.

    The old owner is notified and the lead's history says so. Idempotent and
    safe to run concurrently: a lead is returned by the one transaction whose
    UPDATE still finds the version it read.
    """
    now = now or utcnow()
    days = pool_days()
    calendar = current_calendar()
    span = days * working_day(calendar)
    result = PoolRunResult()
    due = {}
    for row in _candidates(_wall_clock_bound(now, days)):
        since = idle_since(row.last_touch_at, row.state_entered_at, row.owned_since)
        if calendar.add_working_time(since, span) <= now:
            due[row.id] = row
    returned: list[int] = []
    pairs = [(row.id, row.version) for row in due.values()]
    for start in range(0, len(pairs), _CHUNK):
        returned += db.session.scalars(
            update(Lead)
            .where(tuple_(Lead.id, Lead.version).in_(pairs[start : start + _CHUNK]), Lead.in_pool.is_(False))
            .values(
                in_pool=True,
                pooled_at=now,
                assignee_id=None,
                pool_warned_at=None,
                version=Lead.version + 1,
            )
            .returning(Lead.id)
            .execution_options(synchronize_session=False)
        ).all()
    notes = []
    for lead_id in sorted(returned):
        row = due[lead_id]
        engine.record_note(_LeadRef(lead_id, row.state), None, "returned_to_pool", data={"from": row.assignee_id})
        if row.assignee_id:
            notes.append(
                {
                    "user_id": row.assignee_id,
                    "kind": RETURNED_TO_POOL,
                    "workflow": "leads",
                    "record_id": lead_id,
                    "state": row.state,
                }
            )
    result.returned = len(returned)
    result.notifications = queue_many(notes)
    db.session.commit()
    return result


def warn_before_pool(now: datetime | None = None) -> PoolRunResult:
    """Warn each owner, once, when their lead is one working day from returning to the pool; commit.

    A warning is forgotten when the owner touches the lead or moves it on, so
    the next idle spell warns again.
    """
    now = now or utcnow()
    days = pool_days()
    calendar = current_calendar()
    one_day = working_day(calendar)
    warn_after = max(days - 1, 0) * one_day
    result = PoolRunResult()
    _clear_stale_warnings()
    rows = _candidates(_wall_clock_bound(now, days - 1), Lead.assignee_id.is_not(None), Lead.pool_warned_at.is_(None))
    to_warn = {}
    for row in rows:
        since = idle_since(row.last_touch_at, row.state_entered_at, row.owned_since)
        # Past the return time the lead goes back without a warning that would come too late.
        if calendar.add_working_time(since, warn_after) <= now < calendar.add_working_time(since, days * one_day):
            to_warn[row.id] = row
    warned: list[int] = []
    ids = sorted(to_warn)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        bound = max(idle_since(r.last_touch_at, r.state_entered_at, r.owned_since) for r in map(to_warn.get, chunk))
        warned += db.session.scalars(
            update(Lead)
            .where(
                Lead.id.in_(chunk),
                _owned_open_leads(),
                Lead.pool_warned_at.is_(None),
                # A touch since our read moved the lead's activity past every idle time we saw.
                _idle_before(bound),
            )
            .values(pool_warned_at=now)
            .returning(Lead.id)
            .execution_options(synchronize_session=False)
        ).all()
    notes = [
        {
            "user_id": to_warn[lead_id].assignee_id,
            "kind": POOL_WARNING,
            "workflow": "leads",
            "record_id": lead_id,
            "state": to_warn[lead_id].state,
        }
        for lead_id in sorted(warned)
    ]
    result.warned = len(warned)
    result.notifications = queue_many(notes)
    db.session.commit()
    return result


def run_pool_jobs(now: datetime | None = None) -> str:
    """The scheduler's job: returns first (a lead past due goes back unwarned), then warnings."""
    returned = return_stale_leads(now)
    warned = warn_before_pool(now)
    if not (returned.returned or warned.warned):
        return None
    return f"{returned.returned} returned to the pool, {warned.warned} owners warned"


@dataclass(frozen=True)
class _LeadRef:
    """What ``engine.record_note`` reads of a record, without loading the whole lead."""

    id: int
    state: str
    __machine__ = Lead.__machine__


# --- the pool page and claiming -------------------------------------------------


def pool_query(user):
    """Leads waiting in the pool inside ``user``'s territories (every pool lead for an admin), newest first."""
    return (
        scoped(Lead, user)
        .where(Lead.in_pool.is_(True), Lead._state.in_(OPEN_STATES))
        .order_by(Lead.pooled_at.desc(), Lead.id.desc())
    )


def open_lead_count(user_id: int) -> int:
    """How many open leads ``user_id`` owns (the claim limit counts these)."""
    return db.session.scalar(
        select(func.count())
        .select_from(Lead)
        .where(Lead.assignee_id == user_id, Lead._state.in_(OPEN_STATES), Lead.in_pool.is_(False))
    )


class AlreadyClaimed(BusinessError):
    """Someone else claimed the lead first."""


def claim_lead(actor, lead_id: int, *, now: datetime | None = None) -> Lead:
    """Make ``actor`` the owner of a pool lead in their territories; flush, the caller commits.

    A lead outside the actor's territories, or one that was never in the pool,
    answers 404. The actor must own fewer than ``LEAD_MAX_OPEN_PER_REP`` open
    leads. Of two reps claiming at once exactly one wins; the other is told the
    lead is taken. Claiming starts the owner's idle clock afresh (``owned_since``),
    or the next pool run would send the lead straight back.
    """
    if actor.role not in (Role.REP, Role.MANAGER):
        abort(404)
    lead = db.session.scalars(scoped(Lead, actor).where(Lead.id == lead_id)).first()
    if lead is None or (not lead.in_pool and lead.pooled_at is None) or lead.state not in OPEN_STATES:
        abort(404)
    if not lead.in_pool:
        raise AlreadyClaimed(_("Someone else has already claimed this lead."))
    limit = max_open_leads()
    if open_lead_count(actor.id) >= limit:
        raise BusinessError(
            _(
                "You already have %(n)d open leads, the most one person may hold. "
                "Close or hand over some before claiming more.",
                n=limit,
            )
        )
    now = now or utcnow()
    claimed = db.session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.in_pool.is_(True))
        .values(
            in_pool=False,
            assignee_id=actor.id,
            pool_warned_at=None,
            owned_since=now,
            version=Lead.version + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise AlreadyClaimed(_("Someone else has already claimed this lead."))
    engine.record_note(lead, actor, "claimed")
    db.session.flush()
    db.session.expire(lead)
    return lead


# --- sending a lead back, one or many ---------------------------------------------


def release_to_pool(lead: Lead, actor, *, seen_version, reason: str, now: datetime | None = None) -> None:
    """Send an open lead back to its territory's pool, with the reason in its history.

    Its owner or a manager (an administrator) may; a rep may not release a colleague's
    lead. The old owner, when someone else released it, is told. Flushes; the caller commits.
    """
    from crm.common.errors import check_version
    from crm.notify import queue

    engine.ensure_visible(lead, actor)
    check_version(lead, seen_version)
    reason = (reason or "").strip()
    if actor.role not in (Role.MANAGER, Role.ADMIN) and lead.assignee_id != actor.id:
        raise BusinessError(_("Only the lead's owner or a manager can send it back to the pool."))
    if lead.state not in OPEN_STATES:
        raise BusinessError(
            _("Only an open lead goes back to the pool; this one is %(state)s.", state=lead.state_def.label)
        )
    if lead.in_pool:
        raise BusinessError(_("The lead is already in the pool."))
    if not reason:
        raise BusinessError(_("Say why the lead goes back to the pool."))
    if len(reason) > 500:
        raise BusinessError(_("The reason is at most 500 characters."))
    old_id = lead.assignee_id
    engine.record_note(lead, actor, "released_to_pool", comment=reason, data={"from": old_id})
    lead.assignee_id = None
    lead.in_pool = True
    lead.pooled_at = now or utcnow()
    lead.pool_warned_at = None
    lead.owned_since = None
    db.session.flush()
    if old_id is not None and old_id != actor.id:
        queue(
            old_id, NotificationKind.UNASSIGNED, workflow="leads", record_id=lead.id, state=lead.state, message=reason
        )


@dataclass
class BulkRow:
    """What became of one selected lead: done, or refused with the reason in words."""

    lead_id: object
    company_name: str | None
    ok: bool
    message: str | None = None


BULK_ACTIONS = ("reassign", "release")
MAX_BULK = 200


def bulk_apply(actor, lead_ids, action: str, *, owner_id=None, reason: str | None = None) -> list[BulkRow]:
    """Reassign or release many leads in one transaction, each in its own savepoint.

    Each id is looked up through the write-reach rule (``record_in_reach``): an id out
    of reach is refused with the same words as one that does not exist. A refused
    lead changes nothing; the others keep their change and their history rows.
    Flushes; the caller commits once.
    """
    from crm.access.scoping import record_in_reach
    from crm.leads import services

    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only managers can reassign or release many leads at once."))
    if action not in BULK_ACTIONS:
        raise BusinessError(_("Choose what to do with the selected leads."))
    ids = list(dict.fromkeys(str(i).strip() for i in lead_ids or () if str(i).strip()))
    if not ids:
        raise BusinessError(_("Select at least one lead."))
    if len(ids) > MAX_BULK:
        raise BusinessError(_("Select at most %(n)d leads at once.", n=MAX_BULK))
    if action == "reassign" and not str(owner_id or "").strip():
        raise BusinessError(_("Choose the new owner."))
    if action == "release" and not (reason or "").strip():
        raise BusinessError(_("Say why the leads go back to the pool."))
    rows: list[BulkRow] = []
    for raw in ids:
        savepoint = db.session.begin_nested()
        name = None
        try:
            lead = record_in_reach(Lead, raw, actor, missing=_("No such lead in your territories."))
            name = lead.company_name
            if action == "reassign":
                services.reassign_lead(lead, actor, seen_version=lead.version, owner_id=owner_id, comment=reason)
            else:
                release_to_pool(lead, actor, seen_version=lead.version, reason=reason)
        except BusinessError as error:
            savepoint.rollback()
            rows.append(BulkRow(raw, name, False, error.message))
        else:
            savepoint.commit()
            rows.append(BulkRow(lead.id, name, True))
    return rows


__all__ = [
    "BULK_ACTIONS",
    "POOL_WARNING",
    "RETURNED_TO_POOL",
    "AlreadyClaimed",
    "BulkRow",
    "PoolRunResult",
    "bulk_apply",
    "claim_lead",
    "open_lead_count",
    "pool_query",
    "release_to_pool",
    "return_stale_leads",
    "run_pool_jobs",
    "warn_before_pool",
]
