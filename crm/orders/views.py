"""Order pages: the order desk's queue, one order with its actions, shipping, lots, trace codes, statements.

Everything is scoped: staff see orders whose ship-to county is in their reach
(the order desk and admins all of them), a distributor only its own company's.
A record out of reach answers 404. Each POST runs one service through
``perform``: it commits, or flashes the user's message and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.common.errors import BusinessError, Conflict, check_version
from crm.common.pagination import paginate
from crm.common.spreadsheets import XlsxExport, refuse_large_export
from crm.common.time import local_naive, local_now, local_today
from crm.db import read_transaction
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.i18n import once_per_catalog
from crm.orders import discounts, gates, lots, services, stock, tracecodes
from crm.orders.models import Credit, DiscountStatus, Lot, Order, OrderDiscount, PaymentMethod, Shipment, ShipmentItem
from crm.orders.statement import statement_of
from crm.orders.workflow import ORDER_MACHINE
from crm.returns import services as returns_services
from crm.territories.models import Territory
from crm.web import perform
from crm.workflow import engine
from crm.workflow.badges import sla_badges, sla_status_labels, url_parts

bp = Blueprint("orders", __name__, url_prefix="/orders")

DESK = (Role.SERVICE, Role.ADMIN)
ANYONE = (*STAFF_ROLES, Role.DISTRIBUTOR)
# What waits on the order desk, in the order it works them.
DESK_QUEUE = ("submitted", "confirmed", "picking", "delivered")
# The states the list counts: the open ones. Closed and cancelled orders pile up for ever
# (a million after a few years), and counting them took longer than the rest of the page.
COUNTED_STATES = tuple(s.code for s in ORDER_MACHINE.states if not s.final)


def _date(value) -> date | None:
    try:
        return date.fromisoformat(str(value).strip()) if value and str(value).strip() else None
    except ValueError:
        raise BusinessError(_("Dates are written as YYYY-MM-DD.")) from None


# The desk list's sortable columns (templates/_list.html sort headers); "" is nearest deadline first.
ORDER_SORTS = {"deadline": Order.sla_due_at, "placed": Order.id, "number": Order.number}


def _order_sort(sort: str) -> tuple:
    key, descending = sort.lstrip("-"), sort.startswith("-")
    if key in ("", "deadline"):
        # Orders without a deadline (shipped, final) after the others, newest first.
        due = Order.sla_due_at.desc() if descending else Order.sla_due_at.asc()
        return (Order.sla_due_at.is_(None), due, Order.id.desc())
    column = ORDER_SORTS[key]
    return (column.desc() if descending else column.asc(), Order.id.desc())


@dataclass
class OrderFilters:
    """What the list (and its export) was asked for; anything that does not parse is ignored."""

    state: str
    q: str
    sort: str
    queue: bool  # the order desk's default view: what waits on it
    everything: bool  # "all=1": the desk asked for every order

    @classmethod
    def from_args(cls, args) -> OrderFilters:
        state = args.get("state") or ""
        if state not in {s.code for s in ORDER_MACHINE.states}:
            state = ""
        sort = args.get("sort") or ""
        if sort.lstrip("-") not in ORDER_SORTS:
            sort = ""
        everything = args.get("all") == "1"
        queue = current_user.role == Role.SERVICE and not everything and not state
        return cls(state, (args.get("q") or "").strip()[:64], sort, queue, everything)

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for page, sort and export links."""
        args = {k: v for k, v in {"q": self.q, "state": self.state, "sort": self.sort}.items() if v}
        if self.everything:
            args["all"] = "1"
        return args

    def ids(self, base):
        """The matching orders' ids in the list's order: one statement on the orders table alone."""
        stmt = base
        if self.state:
            stmt = stmt.where(Order._state == self.state)
        elif self.queue:
            stmt = stmt.where(Order._state.in_(DESK_QUEUE))
        if self.q:
            stmt = stmt.where(Order.number.contains(self.q) | Order.distributor.has(Distributor.name.contains(self.q)))
        return stmt.with_only_columns(Order.id).order_by(*_order_sort(self.sort))


@bp.route("/")
@roles_required(*ANYONE)
def index():
    filters = OrderFilters.from_args(request.args)
    base = scoped(Order, current_user)
    # The page's ids first, sorted on an index alone; then those rows with their distributor and
    # county. Joining first made the database join every matching order before keeping 50.
    page = paginate(filters.ids(base), request.args.get("page"))
    page.items = _rows(page.items)
    counted = (
        base.with_only_columns(Order._state, func.count())
        .where(Order._state.in_(COUNTED_STATES))
        .group_by(Order._state)
        .order_by(None)
    )
    counts = dict(db.session.execute(counted).all())
    returns_waiting = returns_services.waiting_on_desk() if filters.queue else 0
    return render_template(
        "orders/index.html",
        page=page,
        state=filters.state,
        q=filters.q,
        sort=filters.sort,
        args=filters.as_args(),
        queue=filters.queue,
        counts=counts,
        returns_waiting=returns_waiting,
        # The state menu: open states with their counts, final ones without (see COUNTED_STATES).
        state_options=[
            (s.code, str(s.label) if s.final else f"{s.label} ({counts.get(s.code, 0)})") for s in ORDER_MACHINE.states
        ],
        machine=ORDER_MACHINE,
        desk_queue=DESK_QUEUE,
        state_labels=state_labels(),
        sla_badges=sla_badges(),
        order_link=url_parts("orders.detail", "order_id"),
    )


@bp.route("/export.xlsx")
@roles_required(*ANYONE)
def export():
    """The list as filtered and sorted, every page of it, as XLSX (refused above the configured cap)."""
    filters = OrderFilters.from_args(request.args)
    ids = filters.ids(scoped(Order, current_user))
    refused = refuse_large_export(
        ids,
        lambda total, limit: _(
            "%(n)d orders match; an export holds at most %(limit)d. Narrow the search and export again.",
            n=total,
            limit=limit,
        ),
        url_for("orders.index", **filters.as_args()),
    )
    if refused:
        return refused
    labels = state_labels()
    deadlines = sla_status_labels()
    export = XlsxExport()  # distributor and county names are users' text: never a formula in the file
    sheet = export.sheet(
        _("Orders"),
        [_("Order"), _("State"), _("Deadline"), _("Due by"), _("Distributor"), _("Ship to"), _("Amount"), _("Placed")],
    )
    order_ids = list(db.session.scalars(ids))
    for start in range(0, len(order_ids), 1000):
        for _id, number, state_code, sla_status, due_at, distributor, ship_to, total_, placed in _rows(
            order_ids[start : start + 1000]
        ):
            sheet.append(
                [
                    number,
                    labels[state_code],
                    deadlines.get(sla_status, ""),
                    local_naive(due_at),
                    distributor,
                    ship_to,
                    total_,
                    local_naive(placed),
                ]
            )
    return export.send(f"orders-{local_now().strftime('%Y%m%d-%H%M')}.xlsx")


# What a row of the list shows, in the order templates/orders/index.html unpacks it.
ROW_COLUMNS = (
    Order.id,
    Order.number,
    Order._state,
    Order.sla_status,
    Order.sla_due_at,
    Distributor.name,
    Territory.full_name,
    Order.total,
    Order.created_at,
)


def _rows(order_ids: list[int]) -> list:
    """The list's rows of ``order_ids``, in that order: plain rows, one query (no ORM objects to build)."""
    if not order_ids:
        return []
    found = {
        row[0]: row
        for row in db.session.execute(
            select(*ROW_COLUMNS)
            .join(Distributor, Distributor.id == Order.distributor_id)
            .join(Territory, Territory.code == Order.ship_to_code)
            .where(Order.id.in_(order_ids))
        )
    }
    return [found[order_id] for order_id in order_ids]


@once_per_catalog
def state_labels() -> dict[str, str]:
    """Each order state's label by its code, for the rows' badges."""
    return {s.code: str(s.label) for s in ORDER_MACHINE.states}


def _order(order_id) -> Order:
    return get_scoped_or_404(Order, order_id, current_user)


@bp.route("/<int:order_id>")
@roles_required(*ANYONE)
def detail(order_id):
    return _render_detail(_order(order_id))


def _render_detail(order: Order, status: int = 200, ship_form: dict | None = None):
    # Returns build on orders: the order page shows them, read late (no import cycle).
    from crm.returns import services as returns

    staff = current_user.role in STAFF_ROLES
    events = engine.available_events(order, current_user)
    history = engine.history_of(order)
    if not staff:
        # Discounts are internal: the portal sees the final prices, never a request or its reasons.
        history = [entry for entry in history if entry.event not in discounts.NOTE_LABELS]
    # A request left on a cancelled order can no longer be decided: it is not offered.
    waiting = discounts.pending(order) if staff and order.state in discounts.DISCOUNTABLE else []
    return (
        render_template(
            "orders/detail.html",
            order=order,
            machine=ORDER_MACHINE,
            staff=staff,
            events=events,
            gates=gates.report(order, current_user) if staff and order.state in ("submitted", "on_hold") else [],
            history=history,
            note_labels=discounts.NOTE_LABELS,
            discounts=waiting,
            discount_refusals={d.id: discounts.refusal(d, current_user) for d in waiting},
            pending_lines={d.order_line_id for d in waiting},
            shipments=order.shipments,
            may=_abilities(order),
            proposal=_proposal(order) if order.state == "picking" and current_user.role in DESK else {},
            lot_choices=_lot_choices(order) if order.state == "picking" and current_user.role in DESK else {},
            ship_form=ship_form or {},
            returns=returns.returns_of_order(order.id),
            replacing=returns.replacing(order.id),
            may_return=order.state in returns.DELIVERED_STATES
            and current_user.role in (Role.DISTRIBUTOR, Role.SERVICE, Role.ADMIN),
            methods=PaymentMethod.choices(),
            today=local_today(),
        ),
        status,
    )


def _abilities(order: Order) -> dict[str, bool]:
    role = current_user.role
    return {
        "confirm": order.state == "submitted" and role in DESK,
        "hold": order.state in ("submitted", "confirmed") and role in (Role.SERVICE, Role.MANAGER, Role.ADMIN),
        "release": order.state == "on_hold" and role in (Role.MANAGER, Role.ADMIN),
        "ask_release": order.state == "on_hold" and role in (Role.REP, Role.MANAGER),
        "ship": order.state == "picking" and role in DESK,
        "receipt": order.state == "shipped" and role in (Role.DISTRIBUTOR, *DESK),
        "invoice": order.state == "delivered" and role in DESK,
        "discount": order.state in discounts.DISCOUNTABLE and role in discounts.REQUESTERS,
    }


def _proposal(order: Order) -> dict[int, list]:
    rules = gates.policy()
    return {
        line.id: stock.propose(
            line.product_id,
            line.left,
            near_expiry_months=rules.near_expiry_months,
            accepts_near_expiry=line.accepts_near_expiry,
        )
        for line in order.lines
        if line.left
    }


def _lot_choices(order: Order) -> dict[int, list[Lot]]:
    """product id → its lots with stock, earliest expiry first: one query for the order's products."""
    choices: dict[int, list[Lot]] = {line.product_id: [] for line in order.lines}
    for lot in db.session.scalars(
        select(Lot)
        .where(Lot.product_id.in_(list(choices)), Lot.quantity_left > 0, Lot.expires_on >= local_today())
        .order_by(Lot.expires_on, Lot.id)
    ):
        choices[lot.product_id].append(lot)
    return choices


def _back(order: Order):
    return redirect(url_for("orders.detail", order_id=order.id))


@bp.route("/<int:order_id>/confirm", methods=["POST"])
@roles_required(*DESK)
def confirm(order_id):
    order = _order(order_id)
    outcome = perform(services.confirm, order, current_user, seen_version=request.form.get("seen_version"))
    if outcome.ok:
        if outcome.value == "on_hold":
            flash(_("The order is on hold: %(reason)s", reason=order.hold_reason), "warning")
        else:
            flash(_("Order %(number)s confirmed.", number=order.number), "success")
    return _back(order)


@bp.route("/<int:order_id>/hold", methods=["POST"])
@roles_required(Role.SERVICE, Role.MANAGER, Role.ADMIN)
def hold(order_id):
    order = _order(order_id)
    perform(
        services.hold,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment", ""),
    )
    return _back(order)


@bp.route("/<int:order_id>/release", methods=["POST"])
@roles_required(Role.MANAGER, Role.ADMIN)
def release(order_id):
    order = _order(order_id)
    perform(
        services.release,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment", ""),
    )
    return _back(order)


@bp.route("/<int:order_id>/ask-release", methods=["POST"])
@roles_required(Role.REP, Role.MANAGER, Role.ADMIN)
def ask_release(order_id):
    order = _order(order_id)
    outcome = perform(
        services.ask_release,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment", ""),
    )
    if outcome.ok:
        flash(_("Your request is recorded: another manager decides."), "success")
    return _back(order)


@bp.route("/<int:order_id>/events/<order_event>", methods=["POST"])
@roles_required(*ANYONE)
def fire(order_id, order_event):
    order = _order(order_id)
    if order_event not in services.BUTTON_EVENTS:
        abort(404)
    perform(
        services.fire,
        order,
        order_event,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment"),
    )
    return _back(order)


@bp.route("/<int:order_id>/ship", methods=["POST"])
@roles_required(*DESK)
def ship(order_id):
    order = _order(order_id)
    form = request.form
    items = []
    for line in order.lines:
        for slot in range(3):
            prefix = f"line-{line.id}-{slot}"
            if form.get(f"{prefix}-quantity", "").strip():
                items.append(
                    services.ShipmentLine(
                        line.id,
                        form.get(f"{prefix}-lot"),
                        form.get(f"{prefix}-quantity"),
                        form.get(f"{prefix}-codes", ""),
                    )
                )
        upload = request.files.get(f"line-{line.id}-codes-file")
        if upload and upload.filename:
            text = _text_of(upload)
            target = next((item for item in items if str(item.line_id) == str(line.id)), None)
            if target is not None:
                target.codes = f"{target.codes}\n{text}"
    relations = request.files.get("relations")
    try:
        shipment = services.record_shipment(
            order,
            current_user,
            seen_version=form.get("seen_version"),
            carrier=form.get("carrier", ""),
            waybill=form.get("waybill", ""),
            shipped_on=_date(form.get("shipped_on")),
            items=items,
            relations=_text_of(relations) if relations and relations.filename else "",
        )
    except services.ShipmentRefused as refused:
        db.session.rollback()
        flash(refused.message, "danger")
        for problem in refused.problems[:50]:
            flash(problem, "danger")
        return _render_detail(_order(order_id), 422, ship_form=form.to_dict())
    except tracecodes.CodesRefused as refused:
        db.session.rollback()
        flash(refused.message, "danger")
        return _render_detail(_order(order_id), 422, ship_form=form.to_dict())
    except Conflict:
        raise
    except BusinessError as refused:
        db.session.rollback()
        flash(refused.message, "danger")
        return _render_detail(_order(order_id), 422, ship_form=form.to_dict())
    db.session.commit()
    flash(_("Shipment recorded: %(waybill)s.", waybill=shipment.waybill), "success")
    return _back(order)


MAX_CODE_FILE_BYTES = 16 * 1024 * 1024  # 500,000 codes of 21 bytes with room for CSV quoting


def _text_of(upload) -> str:
    data = upload.stream.read(MAX_CODE_FILE_BYTES + 1)
    if len(data) > MAX_CODE_FILE_BYTES:
        raise BusinessError(_("A code file may hold at most 16 MB."))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BusinessError(_("The code file is not text (UTF-8 or GBK)."))


@bp.route("/<int:order_id>/receipt", methods=["POST"])
@roles_required(Role.DISTRIBUTOR, *DESK)
def receipt(order_id):
    order = _order(order_id)
    received = {line.id: request.form.get(f"received-{line.id}", "") for line in order.lines}
    problems = {line.id: request.form.get(f"problem-{line.id}", "") for line in order.lines}
    outcome = perform(
        services.confirm_receipt,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        received=received,
        problems=problems,
    )
    if outcome.ok:
        flash(_("Receipt confirmed. Thank you."), "success")
    return _back(order)


@bp.route("/<int:order_id>/invoice", methods=["POST"])
@roles_required(*DESK)
def invoice(order_id):
    order = _order(order_id)
    try:
        issued_on = _date(request.form.get("issued_on"))
    except BusinessError as refused:
        flash(refused.message, "danger")
        return _back(order)
    perform(
        services.record_invoice,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        number=request.form.get("number"),
        issued_on=issued_on,
        amount=request.form.get("amount"),
    )
    return _back(order)


# -- discounts (four eyes) --------------------------------------------------------------------


@bp.route("/<int:order_id>/lines/<int:order_line_id>/discount", methods=["POST"])
@roles_required(*discounts.REQUESTERS)
def discount_request(order_id, order_line_id):
    order = _order(order_id)
    if not any(line.id == order_line_id for line in order.lines):
        abort(404)
    outcome = perform(
        discounts.request_discount,
        order,
        current_user,
        seen_version=request.form.get("seen_version"),
        line_id=order_line_id,
        unit_price=request.form.get("unit_price"),
        reason=request.form.get("reason"),
    )
    if outcome.ok:
        flash(_("Discount requested: a manager other than you decides it."), "success")
    return _back(order)


@bp.route("/discounts/<int:discount_id>/decide", methods=["POST"])
@roles_required(*discounts.DECIDERS)
def discount_decide(discount_id):
    discount = db.session.get(OrderDiscount, discount_id)
    if discount is None:
        abort(404)
    order = _order(discount.order_id)  # 404 unless the order is in reach
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        check_version(discount, request.form.get("seen_version"))  # a stale page hears "reload" first
        flash(_("Approve or reject the discount."), "danger")
        return _back(order)
    outcome = perform(
        discounts.decide,
        discount,
        current_user,
        seen_version=request.form.get("seen_version"),
        approve=decision == "approve",
        comment=request.form.get("comment"),
    )
    if outcome.ok:
        flash(_("Discount approved.") if decision == "approve" else _("Discount rejected."), "success")
    return _back(order)


@bp.route("/discounts")
@roles_required(*STAFF_ROLES)
def discounts_index():
    """Discount requests waiting for a manager, on orders in the user's reach, oldest first."""
    visible = scoped(Order, current_user).with_only_columns(Order.id).scalar_subquery()
    stmt = (
        select(OrderDiscount)
        .join(Order, Order.id == OrderDiscount.order_id)
        .where(
            OrderDiscount.status == DiscountStatus.PENDING,
            Order._state.in_(discounts.DISCOUNTABLE),
            Order.id.in_(visible),
        )
        .order_by(OrderDiscount.id)
    )
    page = paginate(stmt, request.args.get("page"))
    return render_template(
        "orders/discounts.html",
        page=page,
        refusals={d.id: discounts.refusal(d, current_user) for d in page.items},
    )


# -- shipments: the 随货同行单 -------------------------------------------------------------


def _shipment(shipment_id) -> Shipment:
    shipment = db.session.get(Shipment, shipment_id)
    if shipment is None:
        abort(404)
    _order(shipment.order_id)  # 404 unless the order is in reach
    return shipment


@bp.route("/shipments/<int:shipment_id>/note")
@roles_required(*ANYONE)
def delivery_note(shipment_id):
    from crm.orders import notes

    shipment = _shipment(shipment_id)
    return render_template("orders/note.html", note=notes.note_of(shipment))


@bp.route("/shipments/<int:shipment_id>/note.pdf")
@roles_required(*ANYONE)
def delivery_note_pdf(shipment_id):
    from crm.orders import notes

    shipment = _shipment(shipment_id)
    note = notes.note_of(shipment)
    return send_file(
        notes.pdf(note),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"随货同行单-{note.order_number}-{shipment.id}.pdf",
    )


# -- lots ------------------------------------------------------------------------------------


# The lot list's sortable columns; "" is the soonest expiry first (what the desk ships first).
LOT_SORTS = {"expires": Lot.expires_on, "number": Lot.number, "stock": Lot.quantity_left}


@bp.route("/lots")
@roles_required(*STAFF_ROLES)
def lots_index():
    q = (request.args.get("q") or "").strip()[:64]
    sort = request.args.get("sort") or ""
    if sort.lstrip("-") not in LOT_SORTS:
        sort = ""
    column = LOT_SORTS[sort.lstrip("-") or "expires"]
    stmt = select(Lot).order_by(column.desc() if sort.startswith("-") else column.asc(), Lot.id)
    if q:
        stmt = stmt.where(Lot.number.contains(q) | Lot.product.has(name=q))
    if request.args.get("all") != "1":
        stmt = stmt.where(Lot.quantity_left > 0)
    page = paginate(stmt, request.args.get("page"))
    months = gates.policy().near_expiry_months
    return render_template(
        "orders/lots.html",
        page=page,
        q=q,
        sort=sort,
        args={k: v for k, v in {"q": q, "sort": sort, "all": request.args.get("all") == "1" and "1"}.items() if v},
        near={lot.id for lot in page.items if stock.is_near_expiry(lot, months)},
        months=months,
        may_add=current_user.role in DESK,
    )


@bp.route("/lots/new", methods=["GET", "POST"])
@roles_required(*DESK)
def lot_new():
    from crm.products.models import Product

    products = list(db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)))
    if request.method == "POST":
        form = request.form
        try:
            outcome = perform(
                lots.add_lot,
                current_user,
                product_id=form.get("product_id"),
                number=form.get("number"),
                produced_on=_date(form.get("produced_on")),
                expires_on=_date(form.get("expires_on")),
                quantity=form.get("quantity"),
            )
        except BusinessError as refused:
            flash(refused.message, "danger")
            outcome = None
        if outcome and outcome.ok:
            flash(_("Lot %(number)s added.", number=outcome.value.number), "success")
            return redirect(url_for("orders.lot_detail", lot_id=outcome.value.id))
        return render_template("orders/lot_form.html", products=products, form=form), 422
    return render_template("orders/lot_form.html", products=products, form={})


@bp.route("/lots/import", methods=["GET", "POST"])
@roles_required(*DESK)
def lot_import():
    """Upload a lot list: its dry run is shown at once (the list is small), with every row's problems."""
    from crm.orders import lot_import as importer

    if request.method == "GET":
        return render_template("orders/lot_import.html", labels=importer.column_labels(), result=None)
    if request.content_length and request.content_length > importer.max_upload_bytes() + 64 * 1024:
        flash(importer.too_large_message(), "danger")  # refused before a byte of it is stored
        return render_template("orders/lot_import.html", labels=importer.column_labels(), result=None), 422
    path = None
    try:
        token = importer.receive(request.files.get("file"), current_user)
        path = importer.stored_path(token, current_user)
        with read_transaction(db.session):
            result = importer.plan(path)
            page = _lot_preview(importer, result, token)
    except BusinessError as refused:
        importer.discard(path)
        db.session.rollback()
        flash(refused.message, "danger")
        return render_template("orders/lot_import.html", labels=importer.column_labels(), result=None), 422
    if not result.ok:
        importer.discard(path)  # nothing of it can be imported: it is corrected and uploaded again
    return page, (200 if result.ok else 422)


def _lot_preview(importer, result, token: str | None) -> str:
    return render_template(
        "orders/lot_import.html",
        labels=importer.column_labels(),
        result=result,
        token=token if result.ok else None,
        errors=result.errors[:500],
        more_errors=max(0, len(result.errors) - 500),
    )


@bp.route("/lots/import/confirm", methods=["POST"])
@roles_required(*DESK)
def lot_import_confirm():
    """Create every lot of the checked upload, or none (the file is checked again first)."""
    from crm.orders import lot_import as importer

    path = importer.stored_path(request.form.get("token", ""), current_user)
    if path is None:
        abort(404)  # another user's upload, one already imported, or none
    try:
        made = importer.create(path, current_user)
    except importer.ImportRefused as refused:
        db.session.rollback()
        importer.discard(path)
        flash(refused.message, "danger")
        return _lot_preview(importer, refused.plan, None), 422
    db.session.commit()
    importer.discard(path)
    flash(_("%(n)d lots imported.", n=len(made)), "success")
    return redirect(url_for("orders.lots_index"))


@bp.route("/lots/<int:lot_id>")
@roles_required(*STAFF_ROLES)
def lot_detail(lot_id):
    lot = db.session.get(Lot, lot_id)
    if lot is None:
        abort(404)
    # Who received the lot: only the shipments to orders in the user's reach.
    visible = scoped(Order, current_user).with_only_columns(Order.id).scalar_subquery()
    rows = db.session.execute(
        select(Order, Shipment, ShipmentItem.quantity)
        .join(Shipment, Shipment.order_id == Order.id)
        .join(ShipmentItem, ShipmentItem.shipment_id == Shipment.id)
        .where(ShipmentItem.lot_id == lot.id, Order.id.in_(visible))
        .order_by(Shipment.shipped_on.desc(), Shipment.id.desc())
    ).all()
    months = gates.policy().near_expiry_months
    return render_template("orders/lot.html", lot=lot, rows=rows, near=stock.is_near_expiry(lot, months), months=months)


# -- trace codes -----------------------------------------------------------------------------


@bp.route("/trace")
@roles_required(*STAFF_ROLES)
def trace():
    raw = "".join((request.args.get("code") or "").split())[:40]
    found = None
    if raw:
        found = tracecodes.whereabouts(raw)
        # A code shipped to an order outside the user's reach is as unknown as a code never shipped.
        if (
            found
            and db.session.scalar(
                scoped(Order, current_user).with_only_columns(Order.id).where(Order.id == found.order_id)
            )
            is None
        ):
            found = None
    return render_template("orders/trace.html", code=raw, found=found)


# -- statements, payments and credit ----------------------------------------------------------


def _distributor(distributor_id) -> Distributor:
    return get_scoped_or_404(Distributor, distributor_id, current_user)


@bp.route("/statement/<int:distributor_id>")
@roles_required(*ANYONE)
def statement(distributor_id):
    distributor = _distributor(distributor_id)
    return render_template(
        "orders/statement.html",
        distributor=distributor,
        statement=statement_of(distributor.id),
        methods=PaymentMethod.choices(),
        may_record=current_user.role in DESK,
        credit=db.session.get(Credit, distributor.id),
        may_set_credit=current_user.role in (Role.MANAGER, Role.ADMIN),
        today=local_today(),
    )


@bp.route("/statement/<int:distributor_id>.xlsx")
@roles_required(*ANYONE)
def statement_xlsx(distributor_id):
    from crm.orders.notes import statement_workbook

    distributor = _distributor(distributor_id)
    return statement_workbook(distributor, statement_of(distributor.id)).send(
        f"对账单-{distributor.id}-{local_today():%Y%m%d}.xlsx"
    )


@bp.route("/statement/<int:distributor_id>/payments", methods=["POST"])
@roles_required(*DESK)
def payment(distributor_id):
    distributor = _distributor(distributor_id)
    try:
        received_on = _date(request.form.get("received_on"))
    except BusinessError as refused:
        flash(refused.message, "danger")
        return redirect(url_for("orders.statement", distributor_id=distributor.id))
    outcome = perform(
        services.record_payment,
        current_user,
        distributor_id=distributor.id,
        received_on=received_on,
        amount=request.form.get("amount"),
        method=request.form.get("method"),
        reference=request.form.get("reference"),
    )
    if outcome.ok:
        flash(_("Payment of %(amount)s recorded.", amount=f"¥{outcome.value.amount:,.2f}"), "success")
    return redirect(url_for("orders.statement", distributor_id=distributor.id))


@bp.route("/statement/<int:distributor_id>/credit", methods=["POST"])
@roles_required(Role.MANAGER, Role.ADMIN)
def credit(distributor_id):
    distributor = _distributor(distributor_id)
    row = db.session.get(Credit, distributor.id)
    if row is not None:
        check_version(row, request.form.get("seen_version"))
    perform(
        services.set_credit,
        distributor,
        current_user,
        credit_limit=request.form.get("credit_limit"),
        payment_days=request.form.get("payment_days"),
    )
    return redirect(url_for("orders.statement", distributor_id=distributor.id))
