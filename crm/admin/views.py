from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from crm.access.roles import Role, roles_required
from crm.admin import services
from crm.admin.forms import ResetPasswordForm, UserForm
from crm.auth.models import AUDIT_EVENT_LABELS, AuditEvent, User
from crm.common.pagination import paginate
from crm.common.phones import format_phone
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.web import perform

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@roles_required(Role.ADMIN)
def users():
    q = (request.args.get("q") or "").strip()[:64]
    sort = request.args.get("sort") or ""
    if sort.lstrip("-") not in USER_SORTS:
        sort = ""
    column = USER_SORTS[sort.lstrip("-") or "role"]
    # Deactivated accounts stay below the active ones whatever the sort.
    order = (column.desc() if sort.startswith("-") else column.asc(), User.username, User.id)
    stmt = (
        select(User)
        .options(selectinload(User.territories), selectinload(User.company))
        .order_by(User.active.desc(), *order)
    )
    if q:
        stmt = stmt.where(or_(User.username.contains(q.lower()), User.display_name.contains(q)))
    return render_template(
        "admin/users.html",
        page=paginate(stmt, request.args.get("page")),
        q=q,
        sort=sort,
        args={k: v for k, v in {"q": q, "sort": sort}.items() if v},
    )


# The user list's sortable columns; "" is by role, then username.
USER_SORTS = {"role": User.role, "username": User.username, "name": User.display_name}


def _company_choices(form):
    companies = db.session.execute(select(Distributor.id, Distributor.name).order_by(Distributor.name)).all()
    form.company_id.choices = [("", "—")] + [(str(i), n) for i, n in companies]


def _territory_choices(form, codes):
    from crm.territories.services import territories_by_codes

    form.territories.choices = [(t.code, t.full_name) for t in territories_by_codes([c for c in codes if c])]


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def user_new():
    form = UserForm()
    _company_choices(form)
    _territory_choices(form, form.territories.data or [])
    if form.validate_on_submit():
        outcome = perform(
            services.create_user,
            actor=current_user,
            username=form.username.data,
            display_name=form.display_name.data,
            role=form.role.data,
            password=form.password.data or "",
            territory_codes=form.territories.data or [],
            company_id=form.company_id.data,
            is_director=form.is_director.data,
            email=form.email.data,
            mobile=form.mobile.data,
        )
        if outcome.ok:
            user = outcome.value
            flash(_("Account %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def user_edit(user_id):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        form.remember_version(user)
        form.role.data = user.role.value
        form.territories.data = [t.code for t in user.territories]
        form.company_id.data = str(user.company_id or "")
        form.mobile.data = format_phone(user.mobile)
    form.username.data = user.username  # the username never changes
    _company_choices(form)
    _territory_choices(form, form.territories.data or [])
    if form.validate_on_submit():
        outcome = perform(
            services.update_user,
            user,
            actor=current_user,
            seen_version=form.seen_version.data,
            display_name=form.display_name.data,
            role=form.role.data,
            territory_codes=form.territories.data or [],
            company_id=form.company_id.data,
            is_director=form.is_director.data,
            email=form.email.data,
            mobile=form.mobile.data,
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user, reset_form=ResetPasswordForm())


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@roles_required(Role.ADMIN)
def user_reset_password(user_id):
    user = db.get_or_404(User, user_id)
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        flash(_("Enter the new password."), "danger")
        return redirect(url_for("admin.user_edit", user_id=user.id))
    outcome = perform(services.reset_password, user, actor=current_user, password=form.password.data)
    if outcome.ok:
        flash(
            _(
                "Password of %(name)s reset; their sign-ins were ended. They choose a new one at the next sign-in.",
                name=user.username,
            ),
            "success",
        )
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required(Role.ADMIN)
def user_set_active(user_id):
    user = db.get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    outcome = perform(services.set_active, user, actor=current_user, active=active)
    if outcome.ok:
        flash(
            _("Account %(name)s reactivated.", name=user.username)
            if active
            else _("Account %(name)s deactivated; its sign-ins were ended.", name=user.username),
            "success",
        )
    return redirect(url_for("admin.users"))


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    event = (request.args.get("event") or "").strip()
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if event:
        stmt = stmt.where(AuditEvent.event == event)
    choices = [(code, str(label)) for code, label in AUDIT_EVENT_LABELS.items()]
    return render_template(
        "admin/audit.html", page=paginate(stmt, request.args.get("page")), event=event, event_choices=choices
    )
