from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import text

from crm.common.urls import safe_next
from crm.extensions import db
from crm.main.services import home_summary

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def index():
    return render_template("main/index.html", summary=home_summary(current_user))


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch the interface language; remembered on the account when signed in."""
    locale = request.form.get("locale", "")
    if locale in current_app.config["LANGUAGES"]:
        session["locale"] = locale
        if current_user.is_authenticated:
            current_user.locale = locale
            db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("main.index")))


@bp.route("/healthz")
def healthz():
    """Liveness for load balancers: answers when the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
