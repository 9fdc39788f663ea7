"""Return pages: the desk's queue, a manager's returns, the portal's list, one return with its actions.

Scoped like orders: staff see returns from counties in their reach (the order
desk and admins all of them), a distributor only its own company's; anything
else answers 404. Each POST runs one service through ``perform``.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.common.errors import BusinessError, Conflict
from crm.common.pagination import paginate
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.i18n import once_per_catalog
from crm.orders.models import Order, Shipment
from crm.returns import services
from crm.returns.models import InspectionOutcome, ReturnKind, ReturnReason, ReturnRequest
from crm.returns.workflow import DECIDERS, DESK_QUEUE, RETURN_MACHINE
from crm.territories.models import Territory
from crm.web import perform
from crm.workflow import engine
from crm.workflow.badges import url_parts

bp = Blueprint("returns", __name__, url_prefix="/returns")

DESK = (Role.SERVICE, Role.ADMIN)
ANYONE = (*STAFF_ROLES, Role.DISTRIBUTOR)
REQUESTERS = (Role.DISTRIBUTOR, *DESK)
COUNTED_STATES = tuple(s.code for s in RETURN_MACHINE.states if not s.final)
ROW_COLUMNS = (
    ReturnRequest.id,
    ReturnRequest.number,
    ReturnRequest._state,
    ReturnRequest.kind,
    ReturnRequest.reason,
    ReturnRequest.sla_status,
    ReturnRequest.sla_due_at,
    Distributor.name,
    Territory.full_name,
    ReturnRequest.created_at,
)


@once_per_catalog
def state_labels() -> dict[str, str]:
    return {s.code: str(s.label) for s in RETURN_MACHINE.states}


@bp.route("/")
@roles_required(*ANYONE)
def index():
    states = {s.code for s in RETURN_MACHINE.states}
    state = request.args.get("state") or ""
    if state not in states:
        state = ""
    queue = current_user.role == Role.SERVICE and request.args.get("all") != "1" and not state
    q = (request.args.get("q") or "").strip()[:64]
    base = scoped(ReturnRequest, current_user)
    stmt = base
    if state:
        stmt = stmt.where(ReturnRequest._state == state)
    elif queue:
        stmt = stmt.where(ReturnRequest._state.in_(DESK_QUEUE))
    if q:
        stmt = stmt.where(
            ReturnRequest.number.contains(q) | ReturnRequest.distributor.has(Distributor.name.contains(q))
        )
    ids = stmt.with_only_columns(ReturnRequest.id).order_by(
        ReturnRequest.sla_due_at.is_(None), ReturnRequest.sla_due_at, ReturnRequest.id.desc()
    )
    page = paginate(ids, request.args.get("page"))
    page.items = _rows(page.items)
    counts = dict(
        db.session.execute(
            base.with_only_columns(ReturnRequest._state, func.count())
            .where(ReturnRequest._state.in_(COUNTED_STATES))
            .group_by(ReturnRequest._state)
            .order_by(None)
        ).all()
    )
    args = {k: v for k, v in {"q": q, "state": state}.items() if v}
    if request.args.get("all") == "1":
        args["all"] = "1"
    return render_template(
        "returns/index.html",
        page=page,
        state=state,
        q=q,
        args=args,
        queue=queue,
        counts=counts,
        machine=RETURN_MACHINE,
        desk_queue=DESK_QUEUE,
        state_labels=state_labels(),
        return_link=url_parts("returns.detail", "return_id"),
    )


def _rows(ids: list[int]) -> list:
    if not ids:
        return []
    found = {
        row[0]: row
        for row in db.session.execute(
            select(*ROW_COLUMNS)
            .join(Distributor, Distributor.id == ReturnRequest.distributor_id)
            .join(Territory, Territory.code == ReturnRequest.territory_code)
            .where(ReturnRequest.id.in_(ids))
        )
    }
    return [found[i] for i in ids]


def _return(return_id) -> ReturnRequest:
    return get_scoped_or_404(ReturnRequest, return_id, current_user)


def _back(record: ReturnRequest):
    return redirect(url_for("returns.detail", return_id=record.id))


@bp.route("/<int:return_id>")
@roles_required(*ANYONE)
def detail(return_id):
    record = _return(return_id)
    role = current_user.role
    may = {
        "decide": record.state == "requested" and role in DECIDERS,
        "temperature": record.state == "requested" and role in REQUESTERS and record.needs_cold_chain_record,
        "receive": record.state == "in_transit" and role in DESK,
        "inspect": record.state == "received" and role in DESK,
        "refund": record.state == "inspected" and role in DESK and record.kind == ReturnKind.RETURN,
        "replace": record.state == "inspected" and role in DESK and record.kind == ReturnKind.EXCHANGE,
    }
    return render_template(
        "returns/detail.html",
        record=record,
        machine=RETURN_MACHINE,
        staff=role in STAFF_ROLES,
        events=engine.available_events(record, current_user),
        reject_refusal=engine.refusal(record, "reject", current_user) if may["decide"] else None,
        history=engine.history_of(record),
        may=may,
        outcomes=InspectionOutcome.choices(),
        refund_amount=services.refund_amount(record) if may["refund"] else None,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*REQUESTERS)
def new():
    """A return from one delivered shipment: without one chosen, the shipments to choose from."""
    shipment_id = request.values.get("shipment_id")
    if not shipment_id:
        return render_template("returns/choose.html", shipments=_delivered_shipments()), (
            422 if request.method == "POST" else 200
        )
    try:
        shipment = services.returnable_shipment(current_user, shipment_id)
    except BusinessError as refused:
        flash(refused.message, "danger")
        return render_template("returns/choose.html", shipments=_delivered_shipments()), 422
    form = request.form
    if request.method == "POST":
        # Every item the form names, the picker's or not: one of another shipment (a crafted form)
        # is refused by the service, never skipped.
        lines = [
            services.WantedReturn(item_id, form.get(key), form.get(f"item-{item_id}-codes", ""))
            for key in form
            if (item_id := _item_of(key)) is not None
        ]
        try:
            made = services.request_return(
                current_user,
                shipment_id=shipment.id,
                kind=form.get("kind"),
                reason=form.get("reason"),
                lines=lines,
                description=form.get("description"),
                temperature_record=form.get("temperature_record"),
            )
        except Conflict:
            raise
        except BusinessError as refused:
            db.session.rollback()
            flash(refused.message, "danger")
            for problem in getattr(refused, "problems", [])[:50]:
                flash(problem, "danger")
            shipment = services.returnable_shipment(current_user, shipment_id)
            return _form(shipment, form), 422
        db.session.commit()
        flash(_("Return %(number)s requested.", number=made.number), "success")
        return _back(made)
    return _form(shipment, _prefill(shipment))


def _prefill(shipment: Shipment) -> dict:
    """A shortage or damage reported on receipt opens the form pre-filled: reason, quantities, the report."""
    form, reports = {}, []
    left = {row.item_id: row.left for row in services.returnables(shipment)}
    for item in shipment.items:
        line = item.line
        if line.received is None or line.received >= line.shipped or not line.receipt_problem:
            continue
        missing = min(line.shipped - line.received, left.get(item.id, 0))
        if missing and not any(key.startswith(f"item-{item.id}-") for key in form):
            form[f"item-{item.id}-quantity"] = str(missing)
            reports.append(f"{line.product.name}: {line.receipt_problem}")
    if reports:
        form["reason"], form["description"] = "short", "; ".join(dict.fromkeys(reports))
    return form


def _item_of(key: str) -> str | None:
    parts = key.split("-")
    if len(parts) == 3 and parts[0] == "item" and parts[2] == "quantity" and parts[1].isdigit():
        return parts[1]
    return None


def _form(shipment: Shipment, form):
    return render_template(
        "returns/new.html",
        shipment=shipment,
        order=shipment.order,
        rows=services.returnables(shipment),
        kinds=ReturnKind.choices(),
        reasons=ReturnReason.choices(),
        form=form,
    )


def _delivered_shipments() -> list:
    visible = scoped(Order, current_user).with_only_columns(Order.id).where(Order._state.in_(services.DELIVERED_STATES))
    return list(
        db.session.scalars(
            select(Shipment).where(Shipment.order_id.in_(visible)).order_by(Shipment.id.desc()).limit(50)
        )
    )


@bp.route("/<int:return_id>/events/<return_event>", methods=["POST"])
@roles_required(*ANYONE)
def fire(return_id, return_event):
    record = _return(return_id)
    if return_event not in services.BUTTON_EVENTS:
        abort(404)
    perform(
        services.fire,
        record,
        return_event,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment"),
    )
    return _back(record)


@bp.route("/<int:return_id>/reject", methods=["POST"])
@roles_required(*DECIDERS)
def reject(return_id):
    record = _return(return_id)
    perform(
        services.reject,
        record,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment", ""),
    )
    return _back(record)


@bp.route("/<int:return_id>/temperature", methods=["POST"])
@roles_required(*REQUESTERS)
def temperature(return_id):
    record = _return(return_id)
    perform(
        services.add_temperature_record,
        record,
        current_user,
        seen_version=request.form.get("seen_version"),
        record=request.form.get("temperature_record", ""),
    )
    return _back(record)


@bp.route("/<int:return_id>/receive", methods=["POST"])
@roles_required(*DESK)
def receive(return_id):
    record = _return(return_id)
    outcome = perform(
        services.record_receipt,
        record,
        current_user,
        seen_version=request.form.get("seen_version"),
        received={line.id: request.form.get(f"received-{line.id}", "") for line in record.lines},
        arrived_codes={line.id: request.form.get(f"codes-{line.id}", "") for line in record.lines},
    )
    if outcome.ok:
        flash(_("Receipt recorded."), "success")
    return _back(record)


@bp.route("/<int:return_id>/inspect", methods=["POST"])
@roles_required(*DESK)
def inspect(return_id):
    record = _return(return_id)
    verdicts = {
        line.id: services.Verdict(request.form.get(f"outcome-{line.id}"), request.form.get(f"witness-{line.id}"))
        for line in record.lines
    }
    outcome = perform(
        services.record_inspection,
        record,
        current_user,
        seen_version=request.form.get("seen_version"),
        verdicts=verdicts,
    )
    if outcome.ok:
        flash(_("Inspection recorded."), "success")
    return _back(record)


@bp.route("/<int:return_id>/refund", methods=["POST"])
@roles_required(*DESK)
def refund(return_id):
    record = _return(return_id)
    outcome = perform(services.refund, record, current_user, seen_version=request.form.get("seen_version"))
    if outcome.ok:
        flash(_("Credit note %(number)s issued.", number=outcome.value.number), "success")
    return _back(record)


@bp.route("/<int:return_id>/replace", methods=["POST"])
@roles_required(*DESK)
def replace(return_id):
    record = _return(return_id)
    outcome = perform(services.replace, record, current_user, seen_version=request.form.get("seen_version"))
    if outcome.ok:
        flash(_("Replacement order %(number)s created.", number=outcome.value.number), "success")
    return _back(record)


@bp.route("/policy/<int:agreement_id>", methods=["GET", "POST"])
@roles_required(Role.MANAGER, Role.ADMIN)
def policy(agreement_id):
    """An agreement's return policy: the window after delivery, near-expiry returns, who decides what."""
    from crm.distributors.views import agreement_or_404

    agreement = agreement_or_404(agreement_id)
    status = 200
    if request.method == "POST":
        outcome = perform(
            services.set_policy,
            agreement,
            current_user,
            seen_version=request.form.get("seen_version"),
            window_days=request.form.get("window_days"),
            accepts_near_expiry=request.form.get("accepts_near_expiry") in ("y", "1", "on"),
            near_expiry_months=request.form.get("near_expiry_months"),
            manager_reasons=request.form.getlist("manager_reasons"),
            quality_threshold=request.form.get("quality_threshold"),
        )
        if outcome.ok:
            flash(_("Return policy saved."), "success")
            return redirect(url_for("returns.policy", agreement_id=agreement.id))
        status = 422
    return render_template(
        "returns/policy.html",
        agreement=agreement,
        policy=services.agreement_policy(agreement.id),
        reasons=ReturnReason.choices(),
    ), status


@bp.route("/quality")
@roles_required(*STAFF_ROLES)
def quality():
    """Returns by reason × product × lot: the start of a recall question."""
    return render_template("returns/quality.html", report=services.quality_report(current_user))
