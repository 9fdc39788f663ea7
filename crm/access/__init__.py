"""Roles and territory scoping: the one place that decides who sees what."""

from crm.access.roles import Role, roles_required  # noqa: F401
from crm.access.scoping import get_scoped_or_404, scoped, territory_condition  # noqa: F401
