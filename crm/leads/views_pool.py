"""The lead pool page (公海) and claiming a lead from it."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.common.errors import BusinessError
from crm.common.pagination import paginate
from crm.extensions import db
from crm.leads import pool
from crm.leads.blueprint import bp


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
        has_detail="leads.detail" in current_app.view_functions,
    )


@bp.route("/<int:lead_id>/claim", methods=["POST"])
@roles_required(Role.REP, Role.MANAGER)
def claim(lead_id):
    try:
        lead = pool.claim_lead(current_user, lead_id)
    except BusinessError as error:
        db.session.rollback()
        flash(error.message, "warning")
        return redirect(url_for("leads.pool"), 303)
    db.session.commit()
    flash(_("%(name)s is now yours.", name=lead.company_name), "success")
    if "leads.detail" in current_app.view_functions:
        return redirect(url_for("leads.detail", lead_id=lead.id), 303)
    return redirect(url_for("leads.pool"), 303)
