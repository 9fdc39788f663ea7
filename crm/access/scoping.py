"""Territory scoping of records.

Every query of a territory-scoped record goes through ``scoped`` (lists) or
``get_scoped_or_404`` (one record). A record outside the user's reach answers
404, so that ids do not leak.

GB/T 2260 codes nest by prefix (44 → 4403 → 440305), so "lies under" is a range
of codes and the condition is an indexed range scan, not a tree walk.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import and_, false, or_, select, true

from crm.access.roles import TERRITORY_ROLES, Role
from crm.extensions import db


def territory_condition(user, territory_column):
    """SQL condition: the record's territory code lies under one of ``user``'s territories."""
    if user.role in (Role.ADMIN, Role.SERVICE):
        return true()
    if user.role not in TERRITORY_ROLES:
        return false()
    ranges = [t.code_range for t in user.territories]
    if not ranges:
        return false()
    return or_(*(and_(territory_column >= lo, territory_column <= hi) for lo, hi in ranges))


def scoped(model, user):
    """A SELECT of ``model`` limited to what ``user`` may see.

    A model names how it is scoped: ``__territory_column__`` for records that
    belong to a territory, ``__company_column__`` for records a distributor owns.
    A model with neither is not scoped for staff and invisible to distributors.
    """
    stmt = select(model)
    if user.role == Role.DISTRIBUTOR:
        company = getattr(model, "__company_column__", None)
        if company is None or user.company_id is None:
            return stmt.where(false())
        return stmt.where(getattr(model, company) == user.company_id)
    territory = getattr(model, "__territory_column__", None)
    if territory is None:
        return stmt
    return stmt.where(territory_condition(user, getattr(model, territory)))


def get_scoped_or_404(model, record_id, user):
    """Load one record the user may see, or answer 404."""
    record = db.session.scalars(scoped(model, user).where(model.id == record_id)).first()
    if record is None:
        abort(404)
    return record
