"""Portal pages for a distributor's staff: what waits on them, and ordering from their agreement's catalogue."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import and_, func, or_, select

from crm.access.roles import Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.distributors.licences import licences_of
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.orders import services
from crm.orders.models import Order
from crm.orders.statement import statement_of
from crm.territories.models import Territory
from crm.web import perform

bp = Blueprint("portal", __name__, url_prefix="/portal")


def _company() -> Distributor:
    if current_user.company_id is None:
        abort(404)
    return get_scoped_or_404(Distributor, current_user.company_id, current_user)


@bp.route("/")
@roles_required(Role.DISTRIBUTOR)
def index():
    company = _company()
    mine = scoped(Order, current_user)
    waiting = list(
        db.session.scalars(mine.where(Order._state.in_(("shipped", "on_hold"))).order_by(Order.id.desc()).limit(20))
    )
    open_count = db.session.scalar(
        mine.with_only_columns(func.count())
        .where(Order._state.in_(("submitted", "confirmed", "picking")))
        .order_by(None)
    )
    from crm.returns.models import ReturnRequest

    # Approved returns wait on the distributor: the goods go back to us.
    returns_to_send = db.session.scalar(
        scoped(ReturnRequest, current_user)
        .with_only_columns(func.count())
        .where(ReturnRequest._state == "approved")
        .order_by(None)
    )
    return render_template(
        "portal/index.html",
        company=company,
        returns_to_send=returns_to_send,
        to_receive=[o for o in waiting if o.state == "shipped"],
        held=[o for o in waiting if o.state == "on_hold"],
        open_count=open_count,
        statement=statement_of(company.id),
        licences=licences_of(company.id),
        agreement=services.agreement_in_force(company.id),
    )


def _counties(agreement) -> list[Territory]:
    """The counties the agreement's grants cover: where the distributor may have goods shipped."""
    if agreement is None or not agreement.lines:
        return []
    ranges = {(line.code_lo, line.code_hi) for line in agreement.lines}
    return list(
        db.session.scalars(
            select(Territory)
            .where(Territory.level == 3, or_(*(and_(Territory.code >= lo, Territory.code <= hi) for lo, hi in ranges)))
            .order_by(Territory.code)
            .limit(2000)
        )
    )


@bp.route("/catalogue", methods=["GET", "POST"])
@roles_required(Role.DISTRIBUTOR)
def catalogue():
    company = _company()
    agreement = services.agreement_in_force(company.id)
    lines = services.catalogue(agreement) if agreement else []
    form = request.form
    if request.method == "POST":
        wanted = [
            services.WantedLine(
                line.product_id, form.get(f"quantity-{line.product_id}", ""), bool(form.get(f"near-{line.product_id}"))
            )
            for line in lines
        ]
        outcome = perform(
            services.place_order,
            current_user,
            ship_to_code=form.get("ship_to_code"),
            ship_to_address=form.get("ship_to_address"),
            receiver_name=form.get("receiver_name"),
            receiver_phone=form.get("receiver_phone"),
            lines=wanted,
            note=form.get("note"),
        )
        if outcome.ok:
            return redirect(url_for("orders.detail", order_id=outcome.value.id))
    return (
        render_template(
            "portal/catalogue.html",
            company=company,
            agreement=agreement,
            lines=lines,
            counties=_counties(agreement),
            form=form,
        ),
        422 if request.method == "POST" else 200,
    )
