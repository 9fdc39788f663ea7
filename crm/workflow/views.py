"""Routes every workflow shares: firing an event, and the record's timeline."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from crm.access.scoping import get_scoped_or_404
from crm.common.errors import Conflict
from crm.extensions import db
from crm.workflow import engine
from crm.workflow.registry import model_for

bp = Blueprint("workflow", __name__, url_prefix="/workflows")


def record_url(workflow: str, record_id: int) -> str:
    """Where a record of ``workflow`` is shown: its domain page, or the generic one."""
    model = model_for(workflow)
    endpoint = getattr(model, "__detail_endpoint__", None)
    if endpoint:
        return url_for(endpoint, **{getattr(model, "__detail_arg__", "record_id"): record_id})
    return url_for("workflow.record", workflow=workflow, record_id=record_id)


def _load(workflow: str, record_id: int):
    model = model_for(workflow)
    if model is None:
        abort(404)
    return get_scoped_or_404(model, record_id, current_user)


@bp.route("/<workflow>/<int:record_id>")
@login_required
def record(workflow, record_id):
    """A generic page for a workflow record: its state, SLA, the actions open to the user, its history."""
    item = _load(workflow, record_id)
    return render_template(
        "workflow/record.html",
        record=item,
        machine=item.__machine__,
        events=engine.available_events(item, current_user),
        history=engine.history_of(item),
    )


@bp.route("/<workflow>/<int:record_id>/events/<event>", methods=["POST"])
@login_required
def fire(workflow, record_id, event):
    """Fire one event from a form; answers 409 when the record changed since the form was loaded."""
    item = _load(workflow, record_id)
    try:
        engine.apply_event(
            item,
            event,
            current_user,
            seen_version=request.form.get("seen_version"),
            comment=request.form.get("comment"),
        )
    except Conflict:
        raise
    except engine.TransitionRefused as refused:
        db.session.rollback()
        flash(refused.message, "danger")
        return redirect(record_url(workflow, record_id), code=303)
    db.session.commit()
    machine = item.__machine__
    flash(_("Done: %(event)s.", event=machine.event(event).label), "success")
    return redirect(record_url(workflow, record_id), code=303)
