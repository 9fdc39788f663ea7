"""The lead pool page (公海) and claiming a lead from it."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.common.pagination import paginate
from crm.common.urls import safe_next
from crm.leads import pool
from crm.leads.blueprint import bp
from crm.leads.models import Lead
from crm.web import perform

# The pool's sortable columns (templates/_list.html sort headers); "" is the newest in the pool first.
POOL_SORTS = {"company": Lead.company_name, "pooled": Lead.pooled_at}


# Endpoint ``leads.pool``; the function has another name so that it does not hide the ``pool`` module.
@bp.route("/pool", endpoint="pool")
@roles_required(Role.REP, Role.MANAGER, Role.ADMIN)
def pool_page():
    q = (request.args.get("q") or "").strip()[:64]
    sort = request.args.get("sort") or ""
    if sort.lstrip("-") not in POOL_SORTS:
        sort = ""
    stmt = pool.pool_query(current_user)  # the pool of the user's territories: the search narrows it
    if q:
        stmt = stmt.where(Lead.company_name.contains(q))
    if sort:
        column = POOL_SORTS[sort.lstrip("-")]
        stmt = stmt.order_by(None).order_by(column.desc() if sort.startswith("-") else column.asc(), Lead.id.desc())
    page = paginate(stmt, request.args.get("page"))
    can_claim = current_user.role in (Role.REP, Role.MANAGER)
    return render_template(
        "leads/pool.html",
        page=page,
        q=q,
        sort=sort,
        args={k: v for k, v in {"q": q, "sort": sort}.items() if v},
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


@bp.route("/<int:lead_id>/release", methods=["GET", "POST"])
@roles_required(Role.REP, Role.MANAGER, Role.ADMIN)
def release(lead_id):
    """Send the lead back to its territory's pool, saying why (its owner or a manager)."""
    from crm.leads.forms import ReleaseForm
    from crm.leads.views import _lead_and_form
    from crm.workflow import engine

    lead, form = _lead_and_form(lead_id, ReleaseForm)
    if form.validate_on_submit():
        outcome = perform(
            pool.release_to_pool, lead, current_user, seen_version=form.seen_version.data, reason=form.reason.data
        )
        if outcome.ok:
            flash(_("%(name)s is back in the pool.", name=lead.company_name), "success")
            return redirect(url_for("leads.detail", lead_id=lead.id), 303)
    engine.ensure_visible(lead, current_user)
    return render_template("leads/release.html", form=form, lead=lead)


@bp.route("/bulk", methods=["POST"])
@roles_required(Role.MANAGER, Role.ADMIN)
def bulk():
    """Reassign or release the leads ticked in the list, in one transaction; a report says row by row."""
    from crm.leads.forms import BulkForm

    form = BulkForm()
    rows = None
    if form.validate_on_submit():
        outcome = perform(
            pool.bulk_apply,
            current_user,
            request.form.getlist("lead_ids"),
            form.action.data,
            owner_id=form.owner_id.data,
            reason=form.reason.data,
        )
        rows = outcome.value if outcome.ok else None
    else:
        flash(_("Choose what to do with the selected leads."), "danger")
    if rows is None:
        return redirect(safe_next(request.form.get("back"), url_for("leads.index")), 303)
    done = sum(1 for r in rows if r.ok)
    return render_template(
        "leads/bulk_result.html",
        rows=rows,
        done=done,
        refused=len(rows) - done,
        action=form.action.data,
        back=safe_next(request.form.get("back"), url_for("leads.index")),
    )
