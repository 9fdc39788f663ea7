"""The licence report (证照效期): current licences expired or expiring within 90 days, soonest first."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.common.pagination import paginate
from crm.common.time import local_today
from crm.distributors.licences import SEVERITY, days_left, level_for, report_query
from crm.distributors.models import Distributor, ExpiryAlert, QualificationDocument
from crm.distributors.views import bp

# The distributor page's licence table (_licences.html) reads levels and days through these.
bp.add_app_template_global(level_for, "licence_level")
bp.add_app_template_global(days_left, "licence_days_left")


@bp.route("/licences")
@roles_required(Role.ADMIN, Role.MANAGER, Role.REP)
def licences():
    """Managers and the admin watch licences across their regions; reps see their own territories."""
    level = _level(request.args.get("level"))
    q = (request.args.get("q") or "").strip()[:64]
    today = local_today()
    stmt = report_query(current_user, today, level)
    if q:  # the company or the licence number; the report stays within the user's distributors
        stmt = stmt.where(Distributor.name.contains(q) | QualificationDocument.number.contains(q))
    page = paginate(stmt, request.args.get("page"))
    return render_template(
        "distributors/licences.html",
        page=page,
        today=today,
        level=level,
        q=q,
        args={k: v for k, v in {"q": q, "level": level.value if level else ""}.items() if v},
        level_options=[(choice.value, choice.label) for choice in reversed(SEVERITY)],
    )


def _level(value: str | None) -> ExpiryAlert | None:
    """The level filter; anything else (a hand-edited URL) shows every level."""
    try:
        return ExpiryAlert(value) if value else None
    except ValueError:
        return None
