"""Return operations: requesting from a shipment, deciding, receiving, inspecting, refunding, replacing.

Services take plain values and the acting user, enforce every rule, flush and
return; the request commits. States move only through ``crm.workflow.engine``.

The quantity rule lives in the database: a shipment item's ``return_claimed``
(units in open requests plus units returned) is raised by ``claim``, one
conditional UPDATE that matches only while ``return_claimed + n <= quantity``, so
of two requests racing for an item's last units exactly one matches, on
PostgreSQL (row lock, then re-read) and on SQLite (one writer at a time). A
rejected request and the units that never arrived give their claim back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from crm.access.roles import Role
from crm.access.scoping import parse_id, record_in_reach
from crm.common.errors import BusinessError, check_version
from crm.common.time import local_today, utcnow
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.orders import services as orders
from crm.orders import stock, tracecodes
from crm.orders.models import Order, Shipment, ShipmentItem, ShippedCode
from crm.returns.models import (
    CreditNote,
    InspectionOutcome,
    QualitySignal,
    ReturnedCode,
    ReturnKind,
    ReturnLine,
    ReturnPolicy,
    ReturnReason,
    ReturnRequest,
)
from crm.returns.workflow import DESK_QUEUE, OPEN_STATES, RETURN_MACHINE
from crm.workflow import engine

# Goods the distributor has signed for: only these can be asked back.
DELIVERED_STATES = ("delivered", "invoiced", "closed")
CENT = Decimal("0.01")


class ReturnRefused(BusinessError):
    """A return request that cannot be recorded; ``problems`` lists what to correct."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


def policy_for(request: ReturnRequest) -> ReturnPolicy:
    """The return policy of the request's order agreement (its defaults until someone saves one)."""
    return agreement_policy(request.order.agreement_id)


def agreement_policy(agreement_id: int) -> ReturnPolicy:
    """An agreement's return policy; without a row, the defaults (reading never writes)."""
    row = db.session.get(ReturnPolicy, agreement_id)
    if row is None:
        defaults = {column.key: column.default.arg for column in ReturnPolicy.__table__.c if column.default}
        row = ReturnPolicy(agreement_id=agreement_id, **defaults)
    return row


def set_policy(
    agreement,
    actor,
    *,
    seen_version,
    window_days,
    accepts_near_expiry: bool,
    near_expiry_months,
    manager_reasons,
    quality_threshold,
) -> ReturnPolicy:
    """A manager (of every county the agreement grants) or an admin sets how the agreement takes goods back."""
    from crm.access.scoping import require_covered

    if actor.role not in (Role.MANAGER, Role.ADMIN):
        raise BusinessError(_("Only a manager or an administrator sets the return policy."))
    row = db.session.get(ReturnPolicy, agreement.id)
    if row is not None:
        check_version(row, seen_version)
    require_covered(actor, [line.territory_code for line in agreement.lines], what=_("This agreement"))

    def number(value, lo, hi, message):
        got = orders.as_int(value)
        if got is None or not lo <= got <= hi:
            raise BusinessError(message)
        return got

    days = number(window_days, 1, 3650, _("The return window is 1 to 3,650 days after delivery."))
    months = number(near_expiry_months, 0, 60, _("Near expiry is 0 to 60 months before the expiry date."))
    threshold = number(quality_threshold, 1, 1000, _("The quality threshold is 1 to 1,000 returns of one lot."))
    reasons = sorted({str(code) for code in manager_reasons or () if str(code) in {r.value for r in ReturnReason}})
    if row is None:
        row = ReturnPolicy(agreement_id=agreement.id)
        db.session.add(row)
    row.window_days, row.accepts_near_expiry, row.near_expiry_months = days, bool(accepts_near_expiry), months
    row.manager_reasons, row.quality_threshold = ",".join(reasons), threshold
    db.session.flush()
    return row


def next_number(return_id: int, today: date) -> str:
    return f"RT{today:%Y%m%d}{return_id:07d}"


# -- what may be returned -----------------------------------------------------------------------


@dataclass(frozen=True)
class Returnable:
    """One shipment item as the return form offers it: the lot, what was shipped and what is left to return."""

    item_id: int
    product_id: int
    product_name: str
    lot_id: int
    lot_number: str
    expires_on: date
    shipped: int
    left: int
    requires_codes: bool


def waiting_on_desk() -> int:
    """How many returns wait on the order desk (it sees every company's): counted in its order queue."""
    return db.session.scalar(
        select(func.count()).select_from(ReturnRequest).where(ReturnRequest._state.in_(DESK_QUEUE))
    )


def returnable_shipment(actor, shipment_id) -> Shipment:
    """A shipment the actor may return goods from: in reach (the distributor's own), of a delivered order."""
    shipment = db.session.get(Shipment, parse_id(shipment_id)) if parse_id(shipment_id) else None
    missing = _("Choose a delivered shipment of yours to return goods from.")
    if shipment is None:
        raise ReturnRefused(missing)
    order = record_in_reach(Order, shipment.order_id, actor, missing=missing)
    if order.state not in DELIVERED_STATES:
        raise ReturnRefused(_("Goods can be returned once their receipt is confirmed."))
    return shipment


def returnables(shipment: Shipment) -> list[Returnable]:
    """The lots of ``shipment`` and how many units of each are left to return: the form's picker, one query."""
    from crm.orders.models import Lot
    from crm.products.models import Product

    rows = db.session.execute(
        select(
            ShipmentItem.id,
            Product.id,
            Product.name,
            Lot.id,
            Lot.number,
            Lot.expires_on,
            ShipmentItem.quantity,
            ShipmentItem.quantity - ShipmentItem.return_claimed,
            Product.requires_trace_codes,
        )
        .join(Lot, Lot.id == ShipmentItem.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .where(ShipmentItem.shipment_id == shipment.id)
        .order_by(ShipmentItem.id)
    )
    return [Returnable(*row) for row in rows]


def claim(item_id: int, quantity: int) -> bool:
    """Hold ``quantity`` units of a shipment item for a return; False (and nothing held) when fewer are left."""
    return (
        db.session.execute(
            update(ShipmentItem)
            .where(ShipmentItem.id == item_id, ShipmentItem.return_claimed + quantity <= ShipmentItem.quantity)
            .values(return_claimed=ShipmentItem.return_claimed + quantity)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )


def _release(item_id: int, quantity: int) -> None:
    """Give back a claim: a rejected request, units that never arrived."""
    if quantity > 0:
        db.session.execute(
            update(ShipmentItem)
            .where(ShipmentItem.id == item_id, ShipmentItem.return_claimed >= quantity)
            .values(return_claimed=ShipmentItem.return_claimed - quantity)
            .execution_options(synchronize_session=False)
        )


# -- the request ----------------------------------------------------------------------------------


@dataclass
class WantedReturn:
    item_id: object
    quantity: object
    codes: str = ""


def _choice(enum, value, message):
    try:
        return enum(str(value or "").strip())
    except ValueError:
        raise BusinessError(message) from None


def request_return(
    actor,
    *,
    shipment_id,
    kind,
    reason,
    lines: list[WantedReturn],
    description: str | None = None,
    temperature_record: str | None = None,
) -> ReturnRequest:
    """A return or exchange of goods from one delivered shipment, in ``requested``; all of it or nothing.

    Each line is a shipment item of that shipment (so a lot shipped to this
    distributor), for at most what is left of it to return. Trace codes, where the
    product uses them, must be codes shipped in that item and in no other live return.
    """
    if actor.role not in (Role.DISTRIBUTOR, Role.SERVICE, Role.ADMIN):
        raise BusinessError(_("Returns are requested by the distributor or by the order desk for it."))
    shipment = returnable_shipment(actor, shipment_id)
    order = shipment.order
    kind = _choice(ReturnKind, kind, _("Choose a return or an exchange."))
    reason = _choice(ReturnReason, reason, _("Choose the reason for the return."))
    rules = agreement_policy(order.agreement_id)
    delivered_at = order.delivered_at or order.shipped_at
    if delivered_at and utcnow() > delivered_at + timedelta(days=rules.window_days):
        raise ReturnRefused(
            _(
                "Returns are accepted within %(days)s days of delivery: this shipment is past it.",
                days=rules.window_days,
            )
        )
    if reason == ReturnReason.NEAR_EXPIRY and not rules.accepts_near_expiry:
        raise ReturnRefused(_("Your agreement does not accept near-expiry returns."))
    description = (description or "").strip()
    if len(description) > 2000:
        raise BusinessError(_("The description is longer than 2,000 characters."))
    items = {item.id: item for item in shipment.items}
    problems: list[str] = []
    planned: list[tuple[ShipmentItem, int, list[ShippedCode]]] = []
    for wanted in lines:
        if str(wanted.quantity or "").strip() in ("", "0"):
            continue
        item = items.get(parse_id(wanted.item_id))
        if item is None:
            # A crafted form: an item of another shipment, another distributor, or none.
            raise ReturnRefused(_("A line of the return is not a lot of this shipment."))
        quantity = orders.whole_quantity(wanted.quantity)
        product = item.lot.product
        left = item.quantity - item.return_claimed
        if quantity > left:
            problems.append(
                _(
                    "Lot %(lot)s: %(quantity)s units is more than the %(left)s left to return "
                    "(shipped %(shipped)s, already returned or requested %(claimed)s).",
                    lot=item.lot.number,
                    quantity=quantity,
                    left=left,
                    shipped=item.quantity,
                    claimed=item.return_claimed,
                )
            )
            continue
        if reason == ReturnReason.NEAR_EXPIRY and not stock.is_near_expiry(item.lot, rules.near_expiry_months):
            problems.append(
                _(
                    "Lot %(lot)s expires on %(date)s, more than %(months)s months away: it is not near expiry.",
                    lot=item.lot.number,
                    date=item.lot.expires_on,
                    months=rules.near_expiry_months,
                )
            )
        read = tracecodes.read_codes(wanted.codes)
        problems.extend(read.problems)
        codes, code_problems = _shipped_codes(item, read.codes)
        problems.extend(code_problems)
        if product.requires_trace_codes and len(read.codes) != quantity:
            problems.append(
                _(
                    "%(product)s: %(count)s codes for %(quantity)s units.",
                    product=product.name,
                    count=len(read.codes),
                    quantity=quantity,
                )
            )
        planned.append((item, quantity, codes))
    if not planned and not problems:
        raise ReturnRefused(_("Enter the quantity to return of at least one lot."))
    if problems:
        raise ReturnRefused(_("Nothing was recorded: correct these and try again."), problems)

    for item, quantity, _codes in planned:
        if not claim(item.id, quantity):
            db.session.expire(item)
            raise ReturnRefused(
                _(
                    "Lot %(lot)s: another return took these units a moment ago; %(left)s are left to return.",
                    lot=item.lot.number,
                    left=item.quantity - item.return_claimed,
                )
            )
    return_id = engine.reserve_ids(ReturnRequest.__table__, 1)[0]
    request = ReturnRequest(
        id=return_id,
        number=next_number(return_id, local_today()),
        kind=kind,
        reason=reason,
        distributor_id=order.distributor_id,
        order_id=order.id,
        shipment_id=shipment.id,
        territory_code=order.ship_to_code,
        description=description or None,
        temperature_record=(temperature_record or "").strip()[:4000] or None,
        requested_by_id=actor.id,
    )
    for item, quantity, codes in planned:
        line = ReturnLine(
            shipment_item_id=item.id, lot_id=item.lot_id, product_id=item.lot.product_id, requested=quantity
        )
        line.codes = [ReturnedCode(shipped_code_id=code.id, code=code.code) for code in codes]
        request.lines.append(line)
    try:
        with db.session.begin_nested():
            engine.start(request, actor, comment=description or None)
    except IntegrityError:
        raise ReturnRefused(_("Another return named some of these trace codes a moment ago: check them.")) from None
    if reason == ReturnReason.QUALITY:
        watch_quality(request)
    return request


def _shipped_codes(item: ShipmentItem, codes: list[str]) -> tuple[list[ShippedCode], list[str]]:
    """The shipped-code rows of ``codes`` in this item, and a problem for each code that cannot be returned."""
    if not codes:
        return [], []
    problems: list[str] = []
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        problems.append(_("Scanned twice: %(codes)s.", codes=", ".join(repeated[:20])))
    found = {
        row.code: row
        for start in range(0, len(codes), 500)
        for row in db.session.scalars(
            select(ShippedCode).where(
                ShippedCode.shipment_item_id == item.id,
                ShippedCode.code.in_(codes[start : start + 500]),
                ShippedCode.returned_at.is_(None),
                ShippedCode.retired_at.is_(None),
            )
        )
    }
    foreign = sorted(set(codes) - set(found))
    if foreign:
        problems.append(
            _(
                "Not shipped to you in lot %(lot)s of this shipment, or already returned: %(codes)s.",
                lot=item.lot.number,
                codes=", ".join(foreign[:20]),
            )
        )
    live = set(
        db.session.scalars(
            select(ReturnedCode.code).where(
                ReturnedCode.shipped_code_id.in_([row.id for row in found.values()]), ReturnedCode.withdrawn.is_(False)
            )
        )
    )
    if live:
        problems.append(_("Already in another return: %(codes)s.", codes=", ".join(sorted(live)[:20])))
    return list(found.values()), problems


# -- deciding -------------------------------------------------------------------------------------


def add_temperature_record(request: ReturnRequest, actor, *, seen_version, record: str) -> None:
    """The cold-chain temperature record of the goods (the logger's readings), before approval."""
    engine.ensure_visible(request, actor)
    check_version(request, seen_version)
    if request.state != "requested":
        raise BusinessError(_("The temperature record is added while the return waits for a decision."))
    text = (record or "").strip()
    if not text or len(text) > 4000:
        raise BusinessError(_("Enter the temperature record (at most 4,000 characters)."))
    request.temperature_record = text
    engine.record_note(request, actor, "temperature_recorded", comment=text[:200])
    db.session.flush()


def approve(request: ReturnRequest, actor, *, seen_version, comment: str | None = None) -> None:
    engine.apply_event(request, "approve", actor, seen_version=seen_version, comment=comment)
    request.decided_by_id = actor.id
    db.session.flush()


def reject(request: ReturnRequest, actor, *, seen_version, comment: str) -> None:
    """Refuse the return: its units and trace codes are free to be asked back again."""
    engine.apply_event(request, "reject", actor, seen_version=seen_version, comment=comment)
    request.decided_by_id = actor.id
    for line in request.lines:
        _release(line.shipment_item_id, line.requested)
        for code in line.codes:
            code.withdrawn = True
    db.session.flush()


BUTTON_EVENTS = ("approve", "send_back", "close")


def fire(request: ReturnRequest, event: str, actor, *, seen_version, comment: str | None = None) -> None:
    """The return page's plain buttons (approve, goods sent back, close) through the engine."""
    if event not in BUTTON_EVENTS:
        raise BusinessError(_("Unknown action."))
    if event == "approve":
        approve(request, actor, seen_version=seen_version, comment=comment)
    else:
        engine.apply_event(request, event, actor, seen_version=seen_version, comment=comment)


# -- receipt and inspection -----------------------------------------------------------------------


def record_receipt(request: ReturnRequest, actor, *, seen_version, received: dict, arrived_codes: dict | None = None):
    """What arrived, per lot (may be less than asked: the rest is given back to the shipment item).

    Only goods we shipped come back into inspection (GSP): every line is a shipment item of ours.
    Where the line names trace codes and fewer units arrived, the codes that arrived are listed.
    """
    engine.ensure_visible(request, actor)
    check_version(request, seen_version)
    if request.state != "in_transit" or actor.role not in RETURN_MACHINE.event("receive").roles:
        raise engine.TransitionRefused(engine.refusal(request, "receive", actor))
    arrived_codes = arrived_codes or {}
    plan = []
    notes = []
    for line in request.lines:
        raw = str(received.get(line.id, received.get(str(line.id), "")) or "").strip()
        got = line.requested if raw == "" else orders.as_int(raw)
        if got is None or not 0 <= got <= line.requested:
            raise BusinessError(
                _(
                    "Lot %(lot)s: received is a whole number from 0 to %(count)s.",
                    lot=line.lot.number,
                    count=line.requested,
                )
            )
        kept = line.codes
        if line.codes and got < line.requested:
            listed = set(tracecodes.read_codes(arrived_codes.get(line.id, arrived_codes.get(str(line.id), ""))).codes)
            kept = [code for code in line.codes if code.code in listed]
            if len(kept) != got or len(listed) != got:
                raise BusinessError(
                    _(
                        "Lot %(lot)s: list the %(count)s trace codes that arrived (codes of this return).",
                        lot=line.lot.number,
                        count=got,
                    )
                )
        plan.append((line, got, kept))
        if got < line.requested:
            notes.append(f"{line.lot.number}: {got}/{line.requested}")
    engine.apply_event(request, "receive", actor, seen_version=seen_version, comment="; ".join(notes) or None)
    for line, got, kept in plan:
        line.received = got
        _release(line.shipment_item_id, line.requested - got)
        for code in line.codes:
            if code not in kept:
                code.withdrawn = True
    db.session.flush()


@dataclass
class Verdict:
    outcome: object
    witness: str | None = None


def record_inspection(request: ReturnRequest, actor, *, seen_version, verdicts: dict) -> None:
    """The inspection's conclusion per lot: restock, quarantine or destroy (witnessed).

    Restocked units go back on the lot, and their trace codes are free to ship again;
    destroyed units' codes are retired for good (they stay "out", so they never ship again).
    """
    engine.ensure_visible(request, actor)
    check_version(request, seen_version)
    if request.state != "received" or actor.role not in RETURN_MACHINE.event("inspect").roles:
        raise engine.TransitionRefused(engine.refusal(request, "inspect", actor))
    plan = []
    for line in request.lines:
        if not line.received:
            continue
        verdict = verdicts.get(line.id) or verdicts.get(str(line.id))
        outcome = _choice(
            InspectionOutcome,
            getattr(verdict, "outcome", None),
            _("Lot %(lot)s: choose restock, quarantine or destroy.", lot=line.lot.number),
        )
        witness = (getattr(verdict, "witness", None) or "").strip()[:64] or None
        if outcome == InspectionOutcome.DESTROY and not witness:
            raise BusinessError(_("Lot %(lot)s: say who witnessed the destruction.", lot=line.lot.number))
        plan.append((line, outcome, witness))
    summary = "; ".join(f"{line.lot.number} {outcome.label} {line.received}" for line, outcome, _w in plan)
    engine.apply_event(request, "inspect", actor, seen_version=seen_version, comment=summary or None)
    now = utcnow()
    for line, outcome, witness in plan:
        line.outcome, line.witness = outcome, witness
        line.inspected_by_id, line.inspected_at = actor.id, now
        db.session.flush()
        live = [code.shipped_code_id for code in line.codes if not code.withdrawn]
        if outcome == InspectionOutcome.RESTOCK:
            restock(line, now)
        elif outcome == InspectionOutcome.DESTROY and live:
            db.session.execute(
                update(ShippedCode)
                .where(ShippedCode.id.in_(live))
                .values(retired_at=now)
                .execution_options(synchronize_session=False)
            )
    db.session.flush()


def restock(line: ReturnLine, now: datetime | None = None) -> bool:
    """Put a restocked line's units back on its lot and free its trace codes, exactly once.

    The line's ``restocked_at`` is set by a conditional UPDATE: a second call (a retry,
    a double submit that got past the version check) matches nothing and gives back nothing.
    """
    now = now or utcnow()
    marked = db.session.execute(
        update(ReturnLine)
        .where(
            ReturnLine.id == line.id,
            ReturnLine.restocked_at.is_(None),
            ReturnLine.outcome == InspectionOutcome.RESTOCK,
        )
        .values(restocked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if marked != 1 or not line.received:
        return False
    stock.give_back(line.lot_id, line.received)
    live = [code.shipped_code_id for code in line.codes if not code.withdrawn]
    if live:
        db.session.execute(
            update(ShippedCode)
            .where(ShippedCode.id.in_(live), ShippedCode.returned_at.is_(None))
            .values(returned_at=now)
            .execution_options(synchronize_session=False)
        )
    return True


# -- money and replacement ------------------------------------------------------------------------


def refund_amount(request: ReturnRequest) -> Decimal:
    """What the received units were sold at: the order lines' prices × units received."""
    total = Decimal("0")
    for line in request.lines:
        total += (line.item.line.unit_price * (line.received or 0)).quantize(CENT, ROUND_HALF_UP)
    return total


def credit_note_number(request_id: int, today: date) -> str:
    return f"CN{today:%Y%m%d}{request_id:07d}"


def refund(request: ReturnRequest, actor, *, seen_version, issued_on: date | None = None) -> CreditNote:
    """Issue the credit note (红字) for the units received: it reduces the distributor's balance."""
    engine.ensure_visible(request, actor)
    check_version(request, seen_version)
    amount = refund_amount(request)
    if request.state == "inspected" and request.kind == ReturnKind.RETURN and amount <= 0:
        raise BusinessError(_("Nothing of this return arrived: there is nothing to credit. Close it instead."))
    issued_on = issued_on or local_today()
    note = CreditNote(
        number=credit_note_number(request.id, issued_on),
        return_id=request.id,
        distributor_id=request.distributor_id,
        issued_on=issued_on,
        amount=amount,
        created_by_id=actor.id,
    )
    engine.apply_event(request, "refund", actor, seen_version=seen_version, comment=f"{note.number} ¥{amount:,.2f}")
    db.session.add(note)
    db.session.flush()
    return note


def replace(request: ReturnRequest, actor, *, seen_version) -> Order:
    """Create the replacement order of an exchange through the order service (same gates), at price zero.

    The new order waits on the order desk like any other; the return and the order point at each other.
    """
    engine.ensure_visible(request, actor)
    check_version(request, seen_version)
    refused = engine.refusal(request, "replace", actor)
    if refused:
        raise engine.TransitionRefused(refused)
    wanted: dict[int, int] = defaultdict(int)
    for line in request.lines:
        wanted[line.product_id] += line.received or 0
    if not any(wanted.values()):
        raise BusinessError(_("Nothing of this exchange arrived: there is nothing to replace."))
    source = request.order
    order = orders.place_order(
        actor,
        distributor_id=request.distributor_id,
        ship_to_code=source.ship_to_code,
        ship_to_address=source.ship_to_address,
        receiver_name=source.receiver_name,
        receiver_phone=source.receiver_phone,
        lines=[orders.WantedLine(product_id, quantity) for product_id, quantity in wanted.items() if quantity],
        note=_("Replacement for return %(number)s", number=request.number),
        free_of_charge=True,
    )
    engine.apply_event(request, "replace", actor, seen_version=seen_version, comment=order.number)
    request.replacement_order_id = order.id
    db.session.flush()
    return order


def replacing(order_id: int) -> ReturnRequest | None:
    """The return whose replacement ``order_id`` is (for the order page's link back)."""
    return db.session.scalar(select(ReturnRequest).where(ReturnRequest.replacement_order_id == order_id))


def returns_of_order(order_id: int) -> list[ReturnRequest]:
    return list(db.session.scalars(select(ReturnRequest).where(ReturnRequest.order_id == order_id)))


# -- the quality signal ---------------------------------------------------------------------------


def watch_quality(request: ReturnRequest) -> list[int]:
    """Raise the quality signal of each lot of ``request`` whose quality returns reached the policy's threshold.

    Once per lot (the signal's primary key): the managers and admins are told once, however
    many returns follow; the lot page answers the recall question. Returns the lots signalled.
    """
    from crm.auth.models import User
    from crm.notify import queue
    from crm.notify.models import NotificationKind

    threshold = agreement_policy(request.order.agreement_id).quality_threshold
    raised = []
    for lot_id in {line.lot_id for line in request.lines}:
        count = db.session.scalar(
            select(func.count(func.distinct(ReturnRequest.id)))
            .join(ReturnLine, ReturnLine.return_id == ReturnRequest.id)
            .where(
                ReturnLine.lot_id == lot_id,
                ReturnRequest.reason == ReturnReason.QUALITY,
                ReturnRequest._state != "rejected",
            )
        )
        if count < threshold or db.session.get(QualitySignal, lot_id) is not None:
            continue
        try:
            with db.session.begin_nested():
                db.session.add(QualitySignal(lot_id=lot_id, returns_counted=count))
        except IntegrityError:
            continue  # another request raised it a moment ago
        for user_id in db.session.scalars(
            select(User.id).where(User.role.in_((Role.MANAGER, Role.ADMIN)), User.active.is_(True))
        ):
            queue(
                user_id,
                NotificationKind.TRANSITION,
                workflow=RETURN_MACHINE.name,
                record_id=request.id,
                state=request.state,
                message=_(
                    "Quality returns of lot %(lot)s reached %(count)s.", lot=request.lines[0].lot.number, count=count
                ),
            )
        raised.append(lot_id)
    return raised


@dataclass
class QualityRow:
    reason: str
    product: str
    lot: str
    lot_id: int
    requests: int
    units: int


@dataclass
class QualityReport:
    rows: list[QualityRow] = field(default_factory=list)
    signalled: set[int] = field(default_factory=set)


def quality_report(actor) -> QualityReport:
    """Returns by reason × product × lot, over the returns in the actor's reach (rejected ones left out)."""
    from crm.access.scoping import scoped
    from crm.orders.models import Lot
    from crm.products.models import Product

    visible = scoped(ReturnRequest, actor).with_only_columns(ReturnRequest.id).scalar_subquery()
    rows = db.session.execute(
        select(
            ReturnRequest.reason,
            Product.name,
            Lot.number,
            Lot.id,
            func.count(func.distinct(ReturnRequest.id)),
            func.sum(ReturnLine.requested),
        )
        .join(ReturnLine, ReturnLine.return_id == ReturnRequest.id)
        .join(Lot, Lot.id == ReturnLine.lot_id)
        .join(Product, Product.id == ReturnLine.product_id)
        .where(ReturnRequest.id.in_(visible), ReturnRequest._state != "rejected")
        .group_by(ReturnRequest.reason, Product.name, Lot.number, Lot.id)
        .order_by(func.count(func.distinct(ReturnRequest.id)).desc(), Lot.number)
    )
    return QualityReport(
        rows=[QualityRow(r.label, p, n, i, c, int(u or 0)) for r, p, n, i, c, u in rows],
        signalled=set(db.session.scalars(select(QualitySignal.lot_id))),
    )


def open_states() -> tuple[str, ...]:
    return OPEN_STATES


def distributor_of(actor, distributor_id) -> Distributor:
    return record_in_reach(Distributor, distributor_id, actor, missing=_("Choose a distributor from the list."))
