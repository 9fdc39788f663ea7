"""Territory scoping of records.

Every query of a territory-scoped record goes through ``scoped`` (lists) or
``get_scoped_or_404`` (one record). A record outside the user's reach answers
404, so that ids do not leak.

GB/T 2260 codes nest by prefix (44 → 4403 → 440305), so "lies under" is a range
of codes and the condition is an indexed range scan, not a tree walk.
"""

from __future__ import annotations

from functools import lru_cache

from flask import abort
from sqlalchemy import and_, false, or_, select, true

from crm.access.roles import TERRITORY_ROLES, Role
from crm.extensions import db

# A user's reach, as a hashable key: what every scoped statement of theirs depends on.
EVERYTHING = ("everything",)  # admins and service staff
_NOTHING = ("nothing",)


def _territory_reach(user) -> tuple:
    if user.role in (Role.ADMIN, Role.SERVICE):
        return EVERYTHING
    if user.role not in TERRITORY_ROLES:
        return _NOTHING
    ranges = tuple(t.code_range for t in user.territories)
    return ("ranges", ranges) if ranges else _NOTHING


# Conditions and scoped SELECTs are built once per column (or model) and reach, and shared:
# SQLAlchemy's expressions are immutable, and building them with the user's ranges took longer
# than the indexed range scan itself (about 25 µs for the condition, 30 µs for a scoped SELECT,
# several times a page). The key is the user's reach, not the user, so the caches stay as small
# as the set of distinct territory assignments.
@lru_cache(maxsize=1024)
def reach_condition(territory_column, reach: tuple):
    """``territory_condition`` for a reach (see ``reach``): built once per column and reach."""
    if reach == EVERYTHING:
        return true()
    if reach[0] != "ranges":
        return false()
    return or_(*(and_(territory_column >= lo, territory_column <= hi) for lo, hi in reach[1]))


def territory_condition(user, territory_column):
    """SQL condition: the record's territory code lies under one of ``user``'s territories."""
    return reach_condition(territory_column, _territory_reach(user))


@lru_cache(maxsize=1024)
def _scoped_select(model, reach: tuple):
    stmt = select(model)
    if reach[0] == "company":
        company = getattr(model, "__company_column__", None)
        if company is None or reach[1] is None:
            return stmt.where(false())
        return stmt.where(getattr(model, company) == reach[1])
    territory = getattr(model, "__territory_column__", None)
    if territory is None:
        return stmt
    return stmt.where(reach_condition(getattr(model, territory), reach))


def reach(user) -> tuple:
    """What every scoped statement of ``user`` depends on, as a hashable key (for caches of built statements)."""
    return ("company", user.company_id) if user.role == Role.DISTRIBUTOR else _territory_reach(user)


def scoped(model, user):
    """A SELECT of ``model`` limited to what ``user`` may see.

    A model names how it is scoped: ``__territory_column__`` for records that
    belong to a territory, ``__company_column__`` for records a distributor owns.
    A model with neither is not scoped for staff and invisible to distributors.
    """
    return _scoped_select(model, reach(user))


def get_scoped_or_404(model, record_id, user):
    """Load one record the user may see, or answer 404."""
    record = db.session.scalars(scoped(model, user).where(model.id == record_id)).first()
    if record is None:
        abort(404)
    return record
