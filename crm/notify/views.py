"""The inbox: every signed-in user's own notifications, and marking them read."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import ngettext
from flask_login import current_user, login_required

from crm.common.pagination import paginate
from crm.common.urls import safe_next
from crm.extensions import db
from crm.notify import services
from crm.notify.rendering import inbox_entries

bp = Blueprint("notify", __name__, url_prefix="/notifications")


@bp.app_context_processor
def _unread_badge():
    return {"unread_notifications": unread_notifications}


def unread_notifications() -> int:
    """The navbar badge: counted once per request, and only on pages that show the navbar."""
    if not current_user.is_authenticated:
        return 0
    if "notify_unread" not in g:
        g.notify_unread = services.unread_count(current_user.id)
    return g.notify_unread


@bp.route("")
@login_required
def index():
    """The user's notifications, newest first, unread ones highlighted."""
    page = paginate(services.inbox_query(current_user.id), request.args.get("page"))
    return render_template("notify/index.html", page=page, entries=inbox_entries(page.items))


@bp.route("/read", methods=["POST"])
@login_required
def mark_read():
    """Mark one notification read (the form names it), then go on to ``next`` or back to the inbox.

    The id travels in the form rather than the path so that one endpoint serves
    both the inbox button and "open the record"; someone else's id answers 404.
    """
    try:
        notification_id = int(request.form.get("notification_id", ""))
    except ValueError:
        abort(404)
    if not services.mark_read(current_user.id, notification_id):
        abort(404)
    db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("notify.index")), code=303)


@bp.route("/read-all", methods=["POST"])
@login_required
def mark_all_read():
    """Mark every unread notification of the user read."""
    count = services.mark_all_read(current_user.id)
    db.session.commit()
    if count:
        flash(ngettext("%(num)d notification marked read.", "%(num)d notifications marked read.", count), "success")
    return redirect(url_for("notify.index"), code=303)
