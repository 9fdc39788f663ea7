"""The SLA sweep: flag warnings and breaches, notify, escalate — each exactly once.

Run by the scheduler process every minute. Exactly-once rests on two things:
- each flag is a conditional UPDATE (``… WHERE sla_status = 'ok'``), so a row can be
  flipped by one transaction only, and only the flipping transaction notifies;
- one sweep at a time: ``pg_try_advisory_xact_lock`` on PostgreSQL (a second
  sweep finds the lock taken and returns at once); on SQLite the write
  transaction begins with BEGIN IMMEDIATE, which serialises sweeps.
The rows to look at are found by ``sla_next_check_at <= now`` on its index, so an
idle sweep reads nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select, text, update

from crm.access.roles import Role
from crm.auth.models import User, user_territories
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify import queue_many
from crm.notify.models import NotificationKind
from crm.sla import rules as sla_rules
from crm.workflow.models import SlaStatus
from crm.workflow.registry import workflow_models

# An arbitrary, fixed key for the sweep's advisory lock ("SLA" in ASCII).
SWEEP_LOCK_KEY = 0x534C41


@dataclass
class SweepResult:
    locked_out: bool = False
    warnings: dict[str, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)
    notifications: int = 0

    @property
    def flagged(self) -> int:
        return sum(self.warnings.values()) + sum(self.breaches.values())


def _take_lock() -> bool:
    if db.engine.dialect.name == "postgresql":
        return bool(db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY}))
    # SQLite: the first statement of this transaction (BEGIN IMMEDIATE, see crm.db)
    # takes the database's write lock; a concurrent sweep waits and then finds nothing left.
    db.session.execute(text("SELECT 1"))
    return True


class _Escalation:
    """Who hears about a breach: managers whose territories cover the record, else every user of the role."""

    def __init__(self):
        self._by_role: dict[Role, list[tuple[int, list[tuple[str, str]]]]] = {}

    def _users(self, role: Role):
        if role not in self._by_role:
            users = db.session.execute(select(User.id).where(User.role == role, User.active.is_(True))).scalars().all()
            ranges = defaultdict(list)
            from crm.territories.models import Territory

            for user_id, territory in db.session.execute(
                select(user_territories.c.user_id, Territory)
                .join(Territory, Territory.code == user_territories.c.territory_code)
                .where(user_territories.c.user_id.in_(users))
            ).all():
                ranges[user_id].append(territory.code_range)
            self._by_role[role] = [(uid, ranges.get(uid, [])) for uid in users]
        return self._by_role[role]

    def recipients(self, role: Role, territory_code: str | None) -> list[int]:
        users = self._users(role)
        if territory_code is None or role not in (Role.MANAGER, Role.REP):
            return [uid for uid, _ranges in users]
        return [uid for uid, ranges in users if any(lo <= territory_code <= hi for lo, hi in ranges)]


def sweep(now: datetime | None = None) -> SweepResult:
    """Flag every record whose warning or deadline has passed; commit. Safe to run concurrently."""
    now = now or utcnow()
    result = SweepResult()
    if not _take_lock():
        db.session.rollback()
        result.locked_out = True
        return result
    escalation = _Escalation()
    notes: list[dict] = []
    for name, model in workflow_models().items():
        territory = getattr(model, getattr(model, "__territory_column__", "") or "", None)
        columns = [model.id, model._state.label("state"), model.assignee_id]
        if territory is not None:
            columns.append(territory)
        due = model.sla_next_check_at <= now

        # Breaches first: a record whose deadline passed while nobody swept is breached, not warned.
        breached = db.session.execute(
            update(model)
            .where(and_(due, model.sla_due_at <= now, model.sla_status.in_(SlaStatus.RUNNING)))
            .values(sla_status=SlaStatus.BREACHED, sla_next_check_at=None)
            .returning(*columns)
            .execution_options(synchronize_session=False)
        ).all()
        warned = db.session.execute(
            update(model)
            .where(and_(due, model.sla_status == SlaStatus.OK))
            .values(sla_status=SlaStatus.WARNING, sla_next_check_at=model.sla_due_at)
            .returning(*columns)
            .execution_options(synchronize_session=False)
        ).all()
        result.breaches[name], result.warnings[name] = len(breached), len(warned)

        rules = sla_rules.rules_for(model.__machine__)
        for row in warned:
            if row.assignee_id:
                notes.append(_note(row.assignee_id, NotificationKind.SLA_WARNING, name, row))
        for row in breached:
            if row.assignee_id:
                notes.append(_note(row.assignee_id, NotificationKind.SLA_BREACH, name, row))
            rule = rules.get(row.state)
            role = rule.escalate_to if rule else Role.MANAGER
            record_territory = row[3] if territory is not None else None
            for manager_id in escalation.recipients(role, record_territory):
                if manager_id != row.assignee_id:
                    notes.append(_note(manager_id, NotificationKind.SLA_ESCALATION, name, row))
    result.notifications = queue_many(notes)
    db.session.commit()
    return result


def _note(user_id: int, kind: str, workflow: str, row) -> dict:
    return {"user_id": user_id, "kind": kind, "workflow": workflow, "record_id": row.id, "state": row.state}
