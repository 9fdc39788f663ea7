from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.auth.models import User
from crm.common.pagination import paginate
from crm.distributors import services
from crm.distributors.forms import DistributorForm
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.territories.models import Territory
from crm.web import perform

bp = Blueprint("distributors", __name__, url_prefix="/distributors")


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    q = (request.args.get("q") or "").strip()
    stmt = scoped(Distributor, current_user).order_by(Distributor.name, Distributor.id)
    if q:
        stmt = stmt.where(Distributor.name.contains(q) | Distributor.uscc.contains(q.upper()))
    page = paginate(stmt, request.args.get("page"))
    return render_template("distributors/index.html", page=page, q=q)


@bp.route("/<int:distributor_id>")
@roles_required(*STAFF_ROLES)
def detail(distributor_id):
    distributor = get_scoped_or_404(Distributor, distributor_id, current_user)
    return _render_detail(distributor)


@bp.route("/mine")
@roles_required(Role.DISTRIBUTOR)
def my_company():
    if current_user.company_id is None:
        abort(404)
    return _render_detail(get_scoped_or_404(Distributor, current_user.company_id, current_user))


def _render_detail(distributor):
    users = []
    if current_user.role in STAFF_ROLES:
        users = list(db.session.scalars(select(User).where(User.company_id == distributor.id).order_by(User.username)))
    return render_template("distributors/detail.html", distributor=distributor, portal_users=users)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new():
    form = DistributorForm()
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(
            services.create_distributor,
            name=form.name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            contact_name=form.contact_name.data,
            actor=current_user,
        )
        if outcome.ok:
            distributor = outcome.value
            flash(_("Distributor %(name)s created.", name=distributor.name), "success")
            return redirect(url_for("distributors.detail", distributor_id=distributor.id))
    return render_template("distributors/form.html", form=form, distributor=None)


@bp.route("/<int:distributor_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(distributor_id):
    distributor = get_scoped_or_404(Distributor, distributor_id, current_user)
    form = DistributorForm(obj=distributor)
    if request.method == "GET":
        form.remember_version(distributor)
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(
            services.update_distributor,
            distributor,
            seen_version=form.seen_version.data,
            name=form.name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            contact_name=form.contact_name.data,
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("distributors.detail", distributor_id=distributor.id))
    return render_template("distributors/form.html", form=form, distributor=distributor)


def _territory_choices(form):
    code = form.territory_code.data
    territory = db.session.get(Territory, code) if code else None
    form.territory_code.choices = [("", "")] + ([(territory.code, territory.full_name)] if territory else [])
