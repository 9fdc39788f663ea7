"""Routes every workflow shares: firing an event, the record's timeline, the diagram and the SLA reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import case, func

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.common.errors import Conflict
from crm.common.pagination import paginate
from crm.extensions import db
from crm.security import CONTENT_SECURITY_POLICY
from crm.sla import rules as sla_rules
from crm.sla import services as sla_services
from crm.workflow import engine
from crm.workflow.machine import Machine
from crm.workflow.models import SlaStatus
from crm.workflow.registry import model_for, workflow_models

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
    definition = item.__machine__.event(event)
    if definition is None or definition.hidden:
        abort(404)  # hidden events have their own forms in the domain's views
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


# -- overview, diagram and SLA reports -----------------------------------------

# Mermaid writes its SVG styles inline; scripts stay 'self' only, styles are relaxed on the diagram page alone.
DIAGRAM_CSP = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


@dataclass(frozen=True)
class StateCount:
    records: int = 0
    breached: int = 0


def _model_or_404(workflow: str):
    model = model_for(workflow)
    if model is None:
        abort(404)
    return model


def state_counts(model, user) -> dict[str, StateCount]:
    """state → records and breaches within the user's reach: one GROUP BY query."""
    breached = func.sum(case((model.sla_status == SlaStatus.BREACHED, 1), else_=0))
    stmt = scoped(model, user).with_only_columns(model._state, func.count(model.id), breached).group_by(model._state)
    return {state: StateCount(int(n), int(b or 0)) for state, n, b in db.session.execute(stmt)}


def _mermaid_text(value) -> str:
    # Mermaid reads the label between quotes; a quote or a line break inside would end it early.
    return str(value).replace('"', "#quot;").replace("\n", " ").replace("\r", " ")


def mermaid_source(machine: Machine, counts: dict[str, StateCount]) -> str:
    """The machine's table as a Mermaid state diagram, each state labelled with its live counts."""
    lines = ["stateDiagram-v2", "  direction LR"]
    ids = {state.code: f"s{index}" for index, state in enumerate(machine.states)}
    for state in machine.states:
        count = counts.get(state.code, StateCount())
        label = f"{state.label} ({count.records})"
        if count.breached:
            label += " " + _("%(n)d overdue", n=count.breached)
        lines.append(f'  state "{_mermaid_text(label)}" as {ids[state.code]}')
    lines.append(f"  [*] --> {ids[machine.initial]}")
    for event in machine.events:
        for source in event.sources:
            lines.append(f"  {ids[source]} --> {ids[event.target]} : {_mermaid_text(event.label).replace(':', ' ')}")
    for state in machine.states:
        if state.final:
            lines.append(f"  {ids[state.code]} --> [*]")
    paused = [ids[s.code] for s in machine.states if s.paused]
    if paused:
        lines.append("  classDef paused stroke-dasharray: 5 5")
        lines.append(f"  class {','.join(paused)} paused")
    return "\n".join(lines)


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    """Every registered workflow with its records and breaches within the user's reach."""
    rows = []
    for _name, model in sorted(workflow_models().items()):
        counts = state_counts(model, current_user)
        rows.append(
            (
                model.__machine__,
                sum(c.records for c in counts.values()),
                sum(c.breached for c in counts.values()),
            )
        )
    return render_template("workflow/index.html", rows=rows)


@bp.route("/<workflow>/diagram")
@roles_required(*STAFF_ROLES)
def diagram(workflow):
    """The machine drawn from its table, with live counts per state (also as a table, for screen readers)."""
    model = _model_or_404(workflow)
    machine = model.__machine__
    counts = state_counts(model, current_user)
    response = render_template(
        "workflow/diagram.html",
        machine=machine,
        counts=counts,
        empty=StateCount(),
        source=mermaid_source(machine, counts),
        sla=sla_rules.rules_for(machine),
        hours=sla_services.hours_text,
    )
    return response, 200, {"Content-Security-Policy": DIAGRAM_CSP}


@bp.route("/overdue")
@roles_required(*STAFF_ROLES)
def overdue():
    """The signed-in user's records that are due soon or overdue, across workflows, the oldest deadline first."""
    return render_template("workflow/overdue.html", items=sla_services.overdue_for(current_user), record_url=record_url)


def _date_arg(name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.args.get(name) or "")
    except ValueError:
        return default


@bp.route("/<workflow>/breaches")
@roles_required(Role.ADMIN, Role.MANAGER)
def breaches(workflow):
    """Records past their deadline now, and per state how often it was left in time or late in a date range."""
    model = _model_or_404(workflow)
    today = sla_services.local_today()
    last = _date_arg("to", today)
    first = _date_arg("from", last - timedelta(days=29))
    if first > last:
        first, last = last, first
    outcomes = sla_services.outcomes_by_state(model, current_user, first, last)
    page = paginate(sla_services.breached_records_stmt(model, current_user), request.args.get("page"))
    return render_template(
        "workflow/breaches.html",
        machine=model.__machine__,
        outcomes=outcomes,
        page=page,
        first=first,
        last=last,
        record_url=record_url,
    )
