"""The lead pool page (公海) and claiming a lead from it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.common.pagination import paginate
from crm.leads import pool
from crm.leads.blueprint import bp
from crm.web import perform


# Endpoint ``leads.pool``; the function has another name so that it does not hide the ``pool`` module.
@bp.route("/pool", endpoint="pool")
@roles_required(Role.REP, Role.MANAGER, Role.ADMIN)
def pool_page():
    page = paginate(pool.pool_query(current_user), request.args.get("page"))
    can_claim = current_user.role in (Role.REP, Role.MANAGER)
    return render_template(
        "leads/pool.html",
        page=page,
        can_claim=can_claim,
        open_count=pool.open_lead_count(current_user.id) if can_claim else None,
        max_open=pool.max_open_leads(),
    )


@bp.route("/<int:lead_id>/claim", methods=["POST"])
@roles_required(Role.REP, Role.MANAGER)
def claim(lead_id):
    # Losing a race for a lead is news, not an error.
    outcome = perform(pool.claim_lead, current_user, lead_id, refusal_category="warning")
    if not outcome.ok:
        return redirect(url_for("leads.pool"), 303)
    flash(_("%(name)s is now yours.", name=outcome.value.company_name), "success")
    return redirect(url_for("leads.detail", lead_id=outcome.value.id), 303)
