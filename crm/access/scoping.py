"""Territory scoping of records, for reads and for writes.

Every query of a territory-scoped record goes through ``scoped`` (lists) or
``get_scoped_or_404`` (one record). A record outside the user's reach answers
404, so that ids do not leak.

Writes are scoped the same way, here and nowhere else: every territory code a
user sends goes through ``territory_in_reach`` and every record id through
``record_in_reach`` (or ``get_scoped_or_404`` for ids in the URL) before a
service acts on it. ``tests/test_write_reach.py`` posts out-of-reach codes and
ids to every POST route and checks that nothing changed.

GB/T 2260 codes nest by prefix (44 → 4403 → 440305), so "lies under" is a range
of codes and the condition is an indexed range scan, not a tree walk.
"""

from __future__ import annotations

from functools import lru_cache

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import and_, false, or_, select, true

from crm.access.roles import TERRITORY_ROLES, Role
from crm.common.errors import BusinessError
from crm.extensions import db
from crm.territories.models import Territory

MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL

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


# -- writes: what a user sends must lie inside their reach -----------------------------------


class OutOfReach(BusinessError):
    """A territory or record the user sent lies outside their reach; nothing was changed."""


def reach_ranges(user) -> tuple[tuple[str, str], ...] | None:
    """The code ranges ``user`` may act in; None for everywhere (admin and service), empty for nowhere.

    For code that checks many codes at once (the importer's rows) without a query each.
    """
    reach_key = _territory_reach(user)
    if reach_key == EVERYTHING:
        return None
    return reach_key[1] if reach_key[0] == "ranges" else ()


def covers(user, code: str | None) -> bool:
    """Whether the territory ``code`` lies under one of ``user``'s territories (admin and service: all)."""
    ranges = reach_ranges(user)
    if ranges is None:
        return True
    return bool(code) and any(lo <= code <= hi for lo, hi in ranges)


def territory_in_reach(user, code, *, unknown: str | None = None) -> Territory:
    """The territory a user chose, when it exists and lies inside their reach.

    ``unknown`` is the message for a code that is blank or not in the tree (a form's
    own wording, "choose the lead's county…"); a code outside the user's territories
    is refused with the place's name, so the user knows what to change.
    """
    territory = db.session.get(Territory, code.strip()) if isinstance(code, str) and code.strip() else None
    if territory is None:
        raise BusinessError(unknown or _("Choose a province, city or county from the list."))
    if not covers(user, territory.code):
        raise OutOfReach(_("%(place)s is outside your territories.", place=territory.full_name))
    return territory


def territories_in_reach(user, codes, *, unknown: str | None = None) -> list[Territory]:
    """``territory_in_reach`` for each of several codes (blanks skipped, each once, in code order)."""
    wanted = sorted({c.strip() for c in codes or () if isinstance(c, str) and c.strip()})
    return [territory_in_reach(user, code, unknown=unknown) for code in wanted]


def require_covered(user, territory_codes, *, what: str) -> None:
    """Refuse unless every code lies inside ``user``'s reach: for records that hold several territories.

    ``what`` names the record in the message ("This agreement", "This case").
    """
    outside = sorted({c for c in territory_codes if not covers(user, c)})
    if outside:
        names = [t.full_name for t in db.session.scalars(select(Territory).where(Territory.code.in_(outside)))]
        raise OutOfReach(
            _(
                "%(what)s includes %(places)s, outside your territories: a manager who covers them, "
                "or an administrator, must do this.",
                what=what,
                places="、".join(names or outside),
            )
        )


def parse_id(value) -> int | None:
    """An id a user sent (a form field, a query argument): a positive INTEGER, else None."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def record_in_reach(model, record_id, user, *, missing: str):
    """A record named by an id in a form, when it exists and the user may see it.

    Missing, garbled and out-of-reach ids get the same message (``missing``), so
    that the answer does not tell one from the other.
    """
    number = parse_id(record_id)
    record = db.session.scalars(scoped(model, user).where(model.id == number)).first() if number else None
    if record is None:
        raise OutOfReach(missing)
    return record
