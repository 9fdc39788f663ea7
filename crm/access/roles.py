"""Roles and the decorator that guards views by role."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from crm.common.enums import LabelledEnum
from crm.i18n import lazy_gettext as _l


class Role(LabelledEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
    SERVICE = "service"
    DISTRIBUTOR = "distributor"

    @classmethod
    def _labels(cls):
        return {
            cls.ADMIN: _l("Administrator"),
            cls.MANAGER: _l("Recruitment manager"),
            cls.REP: _l("Regional rep"),
            cls.SERVICE: _l("Customer service"),
            cls.DISTRIBUTOR: _l("Distributor"),
        }


STAFF_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE})
# Roles whose view of territory-scoped records is limited to their own territories.
TERRITORY_ROLES = frozenset({Role.MANAGER, Role.REP})


def roles_required(*roles: Role):
    """Allow a view to signed-in users holding one of ``roles``; others get 403."""
    allowed = frozenset(roles)

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
