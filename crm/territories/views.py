from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.extensions import db
from crm.territories import services
from crm.territories.forms import MarketAttributesForm
from crm.territories.models import MarketTier, Territory

bp = Blueprint("territories", __name__, url_prefix="/territories")


@bp.route("/")
@roles_required(Role.ADMIN, Role.MANAGER)
def index():
    parent_code = request.args.get("parent") or None
    parent = db.session.get(Territory, parent_code) if parent_code else None
    if parent_code and parent is None:
        abort(404)
    return render_template(
        "territories/index.html",
        parent=parent,
        ancestors=services.ancestors_of(parent) if parent else [],
        nodes=services.children_of(parent_code),
        can_edit=current_user.role == Role.ADMIN,
    )


@bp.route("/<code>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(code):
    territory = db.get_or_404(Territory, code)
    form = MarketAttributesForm(obj=territory)
    if request.method == "GET":
        form.remember_version(territory)
        form.market_tier.data = territory.market_tier.value if territory.market_tier else ""
    if form.validate_on_submit():
        services.update_market_attributes(
            territory,
            seen_version=form.seen_version.data,
            market_tier=MarketTier(form.market_tier.data) if form.market_tier.data else None,
            is_key_region=form.is_key_region.data,
            is_sample_market=form.is_sample_market.data,
        )
        db.session.commit()
        flash(_("Saved %(name)s.", name=territory.full_name), "success")
        return redirect(url_for("territories.index", parent=territory.parent_code or None))
    return render_template("territories/edit.html", territory=territory, form=form)


@bp.route("/search")
@roles_required(Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE)
def search():
    """JSON for the territory pickers: {"results": [{"code", "full_name", "level"}]}."""
    results = services.search_territories(request.args.get("q", ""))
    return jsonify(results=[{"code": t.code, "full_name": t.full_name, "level": t.level} for t in results])
