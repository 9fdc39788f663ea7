"""Order operations: placing, confirming or holding, picking and shipping, receipt, invoice, payment.

Services take plain values and the acting user, enforce every rule, flush and
return; the caller (a view, the scheduler) commits. States move only through
``crm.workflow.engine``; the supply and credit gates are the machine's guards.
A refused call raises ``BusinessError`` (or ``Conflict``) before anything is
written, or inside one transaction the caller rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from crm.access.roles import Role
from crm.access.scoping import record_in_reach
from crm.common.errors import BusinessError, check_version, stale_record
from crm.common.phones import normalize_phone
from crm.common.time import local_today, utcnow
from crm.common.validators import parse_amount
from crm.distributors.models import Agreement, AgreementLine, AgreementStatus, Distributor
from crm.extensions import db
from crm.orders import gates, stock, tracecodes
from crm.orders.models import Credit, Invoice, Lot, Order, OrderLine, Payment, PaymentMethod, Shipment, ShipmentItem
from crm.orders.workflow import ORDER_MACHINE
from crm.territories.models import Territory
from crm.workflow import engine

MAX_QUANTITY = 1_000_000
CENT = Decimal("0.01")


class SystemActor:
    """The scheduler acting on its own (automatic receipt): sees everything, recorded as nobody."""

    id = None
    role = Role.ADMIN
    company_id = None
    display_name = "system"


SYSTEM = SystemActor()


def _whole(value, *, message: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise BusinessError(message) from None
    if not 0 < number <= MAX_QUANTITY:
        raise BusinessError(message)
    return number


def whole_quantity(value) -> int:
    """A quantity a user typed: a whole number from 1 to 1,000,000, or a ``BusinessError`` saying so."""
    return _whole(value, message=_("Quantities are whole numbers from 1 to 1,000,000."))


def _money(value, *, message: str) -> Decimal:
    amount = parse_amount(value)
    if amount is None:
        raise BusinessError(message)
    return amount


def agreement_in_force(distributor_id: int, today: date | None = None) -> Agreement | None:
    """The distributor's signed agreement in force today (the newest, should there be several)."""
    today = today or local_today()
    return db.session.scalars(
        select(Agreement)
        .where(
            Agreement.distributor_id == distributor_id,
            Agreement.status == AgreementStatus.SIGNED,
            (Agreement.starts_on.is_(None)) | (Agreement.starts_on <= today),
            (Agreement.ends_on.is_(None)) | (Agreement.ends_on >= today),
        )
        .order_by(Agreement.id.desc())
    ).first()


def catalogue(agreement: Agreement) -> list[AgreementLine]:
    """The agreement's products with a price, one grant per product (the first), for the portal's catalogue."""
    seen, lines = set(), []
    for line in agreement.lines:
        if line.unit_price is not None and line.product.active and line.product_id not in seen:
            seen.add(line.product_id)
            lines.append(line)
    return lines


@dataclass
class WantedLine:
    product_id: object
    quantity: object
    accepts_near_expiry: bool = False


def _distributor_for(actor, distributor_id) -> Distributor:
    if actor.role == Role.DISTRIBUTOR:
        distributor = db.session.get(Distributor, actor.company_id) if actor.company_id else None
        if distributor is None:
            raise BusinessError(_("Your account is not linked to a distributor."))
        return distributor
    return record_in_reach(Distributor, distributor_id, actor, missing=_("Choose a distributor from the list."))


def next_number(order_id: int, today: date) -> str:
    return f"SO{today:%Y%m%d}{order_id:07d}"


def place_order(
    actor,
    *,
    distributor_id=None,
    ship_to_code,
    ship_to_address,
    receiver_name,
    receiver_phone=None,
    lines: list[WantedLine],
    note: str | None = None,
    free_of_charge: bool = False,
) -> Order:
    """A new order in ``submitted``, priced from the agreement, or a ``BusinessError`` and nothing written.

    Distributors order for their own company; the order desk may take an order
    by phone for any distributor it can see. ``free_of_charge`` (a replacement for
    returned goods, crm.returns) prices every line at zero; the gates are the same.
    """
    distributor = _distributor_for(actor, distributor_id)
    if distributor.state != "active":
        raise BusinessError(_("%(name)s is not an active distributor and cannot order.", name=distributor.name))
    agreement = agreement_in_force(distributor.id)
    if agreement is None:
        raise BusinessError(_("%(name)s has no agreement in force.", name=distributor.name))
    code = (ship_to_code or "").strip()
    county = db.session.get(Territory, code) if code else None
    if county is None or county.level != 3:
        raise BusinessError(_("Choose the county the goods are shipped to."))
    address = (ship_to_address or "").strip()
    receiver = (receiver_name or "").strip()
    if not address or len(address) > 255:
        raise BusinessError(_("Enter the delivery address (at most 255 characters)."))
    if not receiver or len(receiver) > 64:
        raise BusinessError(_("Enter who receives the goods (at most 64 characters)."))
    phone = None
    if receiver_phone and str(receiver_phone).strip():
        phone = normalize_phone(receiver_phone)
        if phone is None:
            raise BusinessError(_("The receiver's phone number is not valid."))

    priced: dict[int, OrderLine] = {}
    for wanted in lines:
        if str(wanted.quantity or "").strip() in ("", "0"):
            continue  # an empty row of the catalogue
        quantity = _whole(wanted.quantity, message=_("Quantities are whole numbers from 1 to 1,000,000."))
        try:
            product_id = int(str(wanted.product_id))
        except (TypeError, ValueError):
            product_id = None
        grant = gates.grant_for(agreement.id, product_id, county.code) if product_id else None
        if grant is None:
            held = any(line.product_id == product_id for line in agreement.lines)
            raise BusinessError(
                _("%(place)s is outside your territory for this product.", place=county.full_name)
                if held
                else _("A product ordered is not in your agreement.")
            )
        if grant.unit_price is None and not free_of_charge:
            raise BusinessError(_("No price is agreed for %(product)s yet: ask your rep.", product=grant.product.name))
        if product_id in priced:
            raise BusinessError(_("%(product)s is ordered twice: use one line.", product=grant.product.name))
        unit_price = Decimal("0") if free_of_charge else grant.unit_price
        priced[product_id] = OrderLine(
            product_id=product_id,
            agreement_line_id=grant.id,
            quantity=quantity,
            unit_price=unit_price,
            amount=(unit_price * quantity).quantize(CENT, ROUND_HALF_UP),
            accepts_near_expiry=bool(wanted.accepts_near_expiry),
        )
    if not priced:
        raise BusinessError(_("Order at least one product."))
    if note is not None and len(note) > 2000:
        raise BusinessError(_("The note is longer than 2,000 characters."))

    order_id = engine.reserve_ids(Order.__table__, 1)[0]
    order = Order(
        id=order_id,
        number=next_number(order_id, local_today()),
        distributor_id=distributor.id,
        agreement_id=agreement.id,
        ship_to_code=county.code,
        ship_to_address=address,
        receiver_name=receiver,
        receiver_phone=phone,
        note=(note or "").strip() or None,
        total=sum((line.amount for line in priced.values()), Decimal("0")),
        placed_by_id=actor.id,
        lines=list(priced.values()),
    )
    engine.start(order, actor)
    return order


def confirm(order: Order, actor, *, seen_version, comment: str | None = None) -> str:
    """Confirm the order, or put it on hold when only the credit gate fails; returns the new state.

    A supply gate that fails refuses the confirmation (nothing to hold for: the
    distributor cannot be supplied at all).
    """
    engine.ensure_visible(order, actor)
    check_version(order, seen_version)
    may_confirm = order.state == "submitted" and actor.role in ORDER_MACHINE.event("confirm").roles
    settled = gates.no_pending_discount(order, actor).passed
    if may_confirm and settled and all(gate(order, actor).passed for gate in gates.SUPPLY):
        credit = gates.credit_ok(order, actor)
        if not credit.passed:
            hold(order, actor, seen_version=seen_version, comment=credit.reason)
            return order.state
    # Any other refusal (a supply gate, the state, the role) comes from the engine with its message.
    engine.apply_event(order, "confirm", actor, seen_version=seen_version, comment=comment)
    return order.state


def hold(order: Order, actor, *, seen_version, comment: str) -> None:
    engine.apply_event(order, "hold", actor, seen_version=seen_version, comment=comment)
    order.held_by_id = actor.id
    order.hold_reason = (comment or "").strip()
    db.session.flush()


def ask_release(order: Order, actor, *, seen_version, comment: str) -> None:
    """A rep or manager asks for a held order to be released (a different manager decides)."""
    engine.ensure_visible(order, actor)
    check_version(order, seen_version)
    if order.state != "on_hold" or actor.role not in (Role.REP, Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only a held order's rep or manager can ask for its release."))
    comment = (comment or "").strip()
    if not comment:
        raise BusinessError(_("Say why the order should be released."))
    order.release_asked_by_id = actor.id
    engine.record_note(order, actor, "release_asked", comment=comment[:2000])
    db.session.flush()


def release(order: Order, actor, *, seen_version, comment: str) -> None:
    engine.apply_event(order, "release", actor, seen_version=seen_version, comment=comment)


BUTTON_EVENTS = ("start_picking", "close", "cancel")


def fire(order: Order, event: str, actor, *, seen_version, comment: str | None = None) -> None:
    """The order page's plain buttons (start picking, close, cancel) through the engine."""
    if event not in BUTTON_EVENTS:
        raise BusinessError(_("Unknown action."))
    engine.apply_event(order, event, actor, seen_version=seen_version, comment=comment)


def _claim(order: Order, seen_version) -> None:
    """Bump the order's version before a multi-row write: of two people shipping one order, one gets 409."""
    check_version(order, seen_version)
    order.shipped_at = utcnow()
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise stale_record() from None


@dataclass
class ShipmentLine:
    line_id: object
    lot_id: object
    quantity: object
    codes: str = ""


@dataclass
class ShipmentRefused(BusinessError):
    message: str
    problems: list[str] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(self.message)


def record_shipment(
    order: Order,
    actor,
    *,
    seen_version,
    carrier: str,
    waybill: str,
    shipped_on: date | None,
    items: list[ShipmentLine],
    relations: str = "",
) -> Shipment:
    """Record one dispatch: lots and quantities per line, trace codes; all of it or nothing.

    When every line is then shipped in full the order moves to ``shipped``;
    otherwise it stays in ``picking`` with a note of the partial shipment.
    """
    engine.ensure_visible(order, actor)
    check_version(order, seen_version)  # a stale page hears "reload" before anything else
    if order.state != "picking":
        raise BusinessError(_("Start picking before recording a shipment."))
    if actor.role not in ORDER_MACHINE.event("ship").roles:
        raise BusinessError(_("Only the order desk records shipments."))
    for gate in gates.SUPPLY:
        result = gate(order, actor)
        if not result.passed:
            raise BusinessError(result.reason)
    carrier, waybill = (carrier or "").strip(), (waybill or "").strip()
    if not carrier or len(carrier) > 64 or not waybill or len(waybill) > 64:
        raise BusinessError(_("Enter the carrier and the waybill number."))
    shipped_on = shipped_on or local_today()
    if shipped_on > local_today():
        raise BusinessError(_("The shipping date cannot be in the future."))

    rules = gates.policy()
    relation_map, problems = tracecodes.read_relations(relations)
    lines = {line.id: line for line in order.lines}
    planned: list[tuple[OrderLine, Lot, int, list[str]]] = []
    per_line: dict[int, int] = {}
    for entry in items:
        if str(entry.quantity or "").strip() in ("", "0"):
            continue
        line = lines.get(as_int(entry.line_id))
        lot = db.session.get(Lot, as_int(entry.lot_id)) if as_int(entry.lot_id) else None
        if line is None:
            raise BusinessError(_("A line of the shipment is not a line of this order."))
        if lot is None or lot.product_id != line.product_id:
            problems.append(_("%(product)s: choose one of its lots.", product=line.product.name))
            continue
        quantity = _whole(entry.quantity, message=_("Quantities are whole numbers from 1 to 1,000,000."))
        if lot.expires_on < shipped_on:
            problems.append(_("Lot %(lot)s expired on %(date)s.", lot=lot.number, date=lot.expires_on))
        elif stock.is_near_expiry(lot, rules.near_expiry_months, shipped_on) and not line.accepts_near_expiry:
            problems.append(
                _(
                    "Lot %(lot)s expires on %(date)s, within %(months)s months: the distributor has not "
                    "accepted near-expiry goods for %(product)s.",
                    lot=lot.number,
                    date=lot.expires_on,
                    months=rules.near_expiry_months,
                    product=line.product.name,
                )
            )
        per_line[line.id] = per_line.get(line.id, 0) + quantity
        codes = tracecodes.read_codes(entry.codes)
        problems.extend(codes.problems)
        planned.append((line, lot, quantity, tracecodes.expand(codes.codes, relation_map)))
    if not planned and not problems:
        raise BusinessError(_("Enter at least one lot and quantity to ship."))
    for line_id, quantity in per_line.items():
        line = lines[line_id]
        if quantity > line.left:
            problems.append(
                _(
                    "%(product)s: %(quantity)s units is more than the %(left)s left to ship.",
                    product=line.product.name,
                    quantity=quantity,
                    left=line.left,
                )
            )
    for line_id in per_line:
        line = lines[line_id]
        units = [code for planned_line, _lot, _q, codes in planned if planned_line.id == line_id for code in codes]
        if units or line.product.requires_trace_codes:
            problems.extend(
                tracecodes.check(
                    units,
                    drug_code=line.product.drug_code,
                    expected=per_line[line_id] if line.product.requires_trace_codes else None,
                    product_name=line.product.name,
                )
            )
    if problems:
        raise ShipmentRefused(_("Nothing was recorded: correct these and try again."), problems)

    _claim(order, seen_version)
    shipment = Shipment(
        order_id=order.id, carrier=carrier, waybill=waybill, shipped_on=shipped_on, created_by_id=actor.id
    )
    db.session.add(shipment)
    for line, lot, quantity, codes in planned:
        stock.take(lot.id, quantity)
        item = ShipmentItem(line=line, lot=lot, quantity=quantity)
        shipment.items.append(item)
        line.shipped += quantity
        db.session.flush()
        tracecodes.record(item, order, codes)
    db.session.flush()
    if all(line.left == 0 for line in order.lines):
        engine.apply_event(order, "ship", actor, seen_version=order.version, comment=waybill)
    else:
        engine.record_note(order, actor, "partial_shipment", comment=f"{carrier} {waybill}")
    return shipment


def as_int(value) -> int | None:
    """A whole number a form sent, or None when it is not one."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def confirm_receipt(
    order: Order, actor, *, seen_version, received: dict | None = None, problems: dict | None = None
) -> None:
    """The distributor signs for the goods (签收), per line, reporting a shortage or damage if any."""
    engine.ensure_visible(order, actor)
    check_version(order, seen_version)
    received, problems = received or {}, problems or {}
    notes = []
    for line in order.lines:
        raw = str(received.get(line.id, received.get(str(line.id), "")) or "").strip()
        got = line.shipped if raw == "" else as_int(raw)
        if got is None or not 0 <= got <= line.shipped:
            raise BusinessError(
                _(
                    "%(product)s: received is a whole number from 0 to %(count)s.",
                    product=line.product.name,
                    count=line.shipped,
                )
            )
        problem = str(problems.get(line.id, problems.get(str(line.id), "")) or "").strip()[:2000] or None
        if got < line.shipped and not problem:
            raise BusinessError(_("%(product)s: say what is missing or damaged.", product=line.product.name))
        line.received, line.receipt_problem = got, problem
        if problem:
            notes.append(f"{line.product.name}: {got}/{line.shipped} {problem}")
    engine.apply_event(order, "confirm_receipt", actor, seen_version=seen_version, comment="; ".join(notes) or None)
    order.delivered_at = utcnow()
    db.session.flush()


def auto_confirm_receipts(now: datetime | None = None) -> int:
    """Confirm the receipt of orders shipped more than the policy's working days ago (the scheduler's job)."""
    from crm.sla.calendar import current_calendar

    now = now or utcnow()
    days = gates.policy().auto_delivery_days
    calendar = current_calendar()
    confirmed = 0
    candidates = db.session.scalars(
        select(Order).where(Order._state == "shipped", Order.shipped_at <= now - timedelta(days=days))
    ).all()
    for order in candidates:
        waited = calendar.working_time_between(order.shipped_at, now)
        if waited < days * _working_day(calendar):
            continue
        for line in order.lines:
            line.received = line.shipped
        engine.apply_event(
            order,
            "confirm_receipt",
            SYSTEM,
            seen_version=order.version,
            comment=_("Receipt confirmed automatically: no answer %(days)s working days after shipping.", days=days),
        )
        order.delivered_at = now
        confirmed += 1
    db.session.flush()
    return confirmed


def _working_day(calendar) -> timedelta:
    from crm.leads.pool import working_day

    return working_day(calendar)


def invoice_number(raw) -> str:
    number = "".join(str(raw or "").split())
    if not (number.isascii() and number.isdigit() and len(number) in (8, 20)):
        raise BusinessError(_("An invoice number has 20 digits (数电票) or 8 digits (paper invoice)."))
    return number


def record_invoice(order: Order, actor, *, seen_version, number, issued_on: date | None, amount) -> Invoice:
    """The invoice of a delivered order; its due date follows the distributor's payment terms."""

    engine.ensure_visible(order, actor)
    check_version(order, seen_version)
    number = invoice_number(number)
    value = _money(amount, message=_("Enter the invoice amount in yuan, more than zero."))
    if value > order.total:
        raise BusinessError(_("The invoice amount is more than the order's ¥%(total)s.", total=f"{order.total:,.2f}"))
    if db.session.scalar(select(Invoice.id).where(Invoice.number == number)):
        raise BusinessError(_("Invoice %(number)s is already recorded.", number=number))
    issued_on = issued_on or local_today()
    credit = db.session.get(Credit, order.distributor_id)
    invoice = Invoice(
        order_id=order.id,
        distributor_id=order.distributor_id,
        number=number,
        issued_on=issued_on,
        due_on=issued_on + timedelta(days=credit.payment_days if credit else 30),
        amount=value,
        created_by_id=actor.id,
    )
    db.session.add(invoice)
    engine.apply_event(order, "invoice", actor, seen_version=seen_version, comment=number)
    return invoice


def record_payment(actor, *, distributor_id, received_on: date | None, amount, method, reference=None) -> Payment:
    """Money received (回款) against a distributor's account."""
    if actor.role not in (Role.SERVICE, Role.ADMIN):
        raise BusinessError(_("Only the order desk records payments."))
    distributor = record_in_reach(Distributor, distributor_id, actor, missing=_("Choose a distributor from the list."))
    value = _money(amount, message=_("Enter the amount received in yuan, more than zero."))
    try:
        chosen = PaymentMethod(method)
    except ValueError:
        raise BusinessError(_("Choose how the money was paid.")) from None
    received_on = received_on or local_today()
    if received_on > local_today():
        raise BusinessError(_("The date received cannot be in the future."))
    payment = Payment(
        distributor_id=distributor.id,
        received_on=received_on,
        amount=value,
        method=chosen,
        reference=(reference or "").strip()[:64] or None,
        created_by_id=actor.id,
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def set_credit(distributor: Distributor, actor, *, credit_limit, payment_days) -> Credit:
    """A manager sets a distributor's credit limit (元; blank: none granted) and payment terms (days)."""
    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only a manager sets credit terms."))
    raw = str(credit_limit or "").strip()
    limit = parse_amount(raw, allow_zero=True) if raw else None
    if raw and limit is None:
        raise BusinessError(_("The credit limit is an amount in yuan, zero or more."))
    try:
        days = int(str(payment_days).strip())
    except (TypeError, ValueError):
        days = -1
    if not 0 <= days <= 365:
        raise BusinessError(_("Payment terms are 0 to 365 days."))
    row = db.session.get(Credit, distributor.id)
    if row is None:
        row = Credit(distributor_id=distributor.id)
        db.session.add(row)
    row.credit_limit, row.payment_days = limit, days
    engine.record_note(
        distributor,
        actor,
        "credit_set",
        comment=_("Credit limit %(limit)s, %(days)s days", limit=raw or "—", days=days),
    )
    db.session.flush()
    return row


def hold_orders_of_inactive_distributors() -> int:
    """Put the open orders of suspended or terminated distributors on hold (the scheduler's job).

    The supply gates already refuse to confirm or ship them; the hold makes it
    visible on the order desk's queue and the portal, with the reason.
    """
    held = 0
    orders = db.session.scalars(
        select(Order)
        .join(Distributor, Distributor.id == Order.distributor_id)
        .where(Order._state.in_(("submitted", "confirmed")), Distributor._state.in_(("suspended", "terminated")))
    ).all()
    for order in orders:
        hold(
            order,
            SYSTEM,
            seen_version=order.version,
            comment=_("The distributor is “%(state)s”: its open orders wait.", state=order.distributor.state_def.label),
        )
        held += 1
    return held


def run_order_jobs() -> str | None:
    """The scheduler's order job: automatic receipts, holds for inactive distributors. Idempotent."""
    received = auto_confirm_receipts()
    held = hold_orders_of_inactive_distributors()
    db.session.commit()
    if received or held:
        return f"{received} receipts confirmed automatically, {held} orders held"
    return None
