from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import services
from crm.auth.forms import ChangePasswordForm, LoginForm
from crm.common.errors import BusinessError
from crm.common.urls import safe_next
from crm.extensions import db

bp = Blueprint("auth", __name__, url_prefix="/auth")

# What a user whose password an admin chose may still open: signing out and choosing their own.
OPEN_UNTIL_PASSWORD_CHANGED = frozenset({"auth.change_password", "auth.logout", "static"})


@bp.before_app_request
def _require_own_password():
    """A new or reset account reaches no page but the password change until it has chosen its own."""
    if request.endpoint in OPEN_UNTIL_PASSWORD_CHANGED or not current_user.is_authenticated:
        return None
    if not current_user.must_change_password:
        return None
    # The page itself says why it opened instead of the one asked for.
    return redirect(url_for("auth.change_password"), code=303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data)
        except BusinessError as error:
            db.session.commit()  # keep the failure count and the audit row
            flash(error.message, "danger")
            return render_template("auth/login.html", form=form), 200
        next_url = safe_next(request.args.get("next"), url_for("main.index"))
        locale = session.get("locale")
        session.clear()  # a new session on sign-in (no fixation)
        services.start_session(user, remember=form.remember.data)
        db.session.commit()
        login_user(user, remember=form.remember.data)
        if locale and not user.locale:
            session["locale"] = locale
        return redirect(next_url)
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    services.end_session(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.new_password.data)
        except BusinessError as error:
            db.session.commit()  # the failed attempt is audited
            flash(error.message, "danger")
            return render_template("auth/change_password.html", form=form), 200
        db.session.commit()
        flash(_("Your password was changed. Your other sign-ins were ended."), "success")
        return redirect(url_for("main.index"))
    return render_template("auth/change_password.html", form=form)
