"""Discounts on order lines: asked for by the order desk or the rep, decided by another manager (four eyes).

An order is priced at its agreement lines' prices. Before picking starts (the order
``submitted``, ``confirmed`` or ``on_hold``) someone who works the order may ask to sell a
line below that price: a new unit price, lower than the agreement price and above zero, with
a reason. The request waits for a manager who did not ask for it; approving sets the line's
price (and the order's total), rejecting leaves it. Every step is a note in the order's
history (``engine.record_note``: append-only, with who and when).

While a request waits the order is neither confirmed nor picked (a guard of both events):
the credit decision and the invoice are made on the price that will be invoiced, and the
goods do not leave at a price still open. The reasons are internal: the portal shows only
the line's final price, never a request or its reasons.

Services flush; the caller commits. A decision on a request someone else decided since the
page was loaded is a ``Conflict`` (409).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from crm.access.roles import Role
from crm.common.errors import BusinessError, check_version, stale_record
from crm.common.time import utcnow
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.orders.models import DiscountStatus, Order, OrderDiscount, OrderLine
from crm.workflow import engine

DISCOUNTABLE = ("submitted", "confirmed", "on_hold")
REQUESTERS = frozenset({Role.REP, Role.SERVICE, Role.MANAGER, Role.ADMIN})
DECIDERS = frozenset({Role.MANAGER, Role.ADMIN})
CENT = Decimal("0.01")
PRICE_STEP = Decimal("0.0001")  # unit prices keep four decimals (Numeric(12, 4))
MAX_REASON = 2000

# The history notes, labelled on the order page (staff only: the portal never sees them).
NOTE_LABELS = {
    "discount_requested": _l("Discount requested"),
    "discount_approved": _l("Discount approved"),
    "discount_rejected": _l("Discount rejected"),
}


def pending(order: Order) -> list[OrderDiscount]:
    return list(
        db.session.scalars(
            select(OrderDiscount)
            .where(OrderDiscount.order_id == order.id, OrderDiscount.status == DiscountStatus.PENDING)
            .order_by(OrderDiscount.id)
        )
    )


def has_pending(order: Order) -> bool:
    if order.id is None:
        return False
    return (
        db.session.scalar(
            select(OrderDiscount.id)
            .where(OrderDiscount.order_id == order.id, OrderDiscount.status == DiscountStatus.PENDING)
            .limit(1)
        )
        is not None
    )


def list_price_of(line: OrderLine) -> Decimal:
    """The agreement price the line was ordered at: before any approved discount changed its price."""
    first = db.session.scalar(
        select(OrderDiscount.list_price)
        .where(OrderDiscount.order_line_id == line.id, OrderDiscount.status == DiscountStatus.APPROVED)
        .order_by(OrderDiscount.id)
        .limit(1)
    )
    return first if first is not None else line.unit_price


def _price(value) -> Decimal | None:
    text = str(value or "").strip().replace(",", "").replace("¥", "").replace("￥", "")
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None
    if not price.is_finite():
        return None
    return price


def _reason(text, message: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise BusinessError(message)
    if len(reason) > MAX_REASON:
        raise BusinessError(_("The reason is longer than 2,000 characters."))
    return reason


def request_discount(order: Order, actor, *, seen_version, line_id, unit_price, reason) -> OrderDiscount:
    """Ask to sell one line of ``order`` at ``unit_price`` (yuan, below the agreement price), for ``reason``."""
    engine.ensure_visible(order, actor)
    check_version(order, seen_version)
    if actor.role not in REQUESTERS:
        raise BusinessError(_("Only the order desk, a rep or a manager can ask for a discount."))
    if order.state not in DISCOUNTABLE:
        raise BusinessError(
            _(
                "The order is “%(state)s”: prices can change only before picking starts.",
                state=order.state_def.label,
            )
        )
    try:
        wanted_id = int(str(line_id))
    except (TypeError, ValueError):
        wanted_id = None
    line = next((line for line in order.lines if line.id == wanted_id), None)
    if line is None:
        raise BusinessError(_("Choose a line of this order."))
    if any(d.order_line_id == line.id for d in pending(order)):
        raise BusinessError(
            _("A discount on %(product)s already awaits a manager's decision.", product=line.product.name)
        )
    price = _price(unit_price)
    if price is None or price <= 0:
        raise BusinessError(_("Enter the new unit price in yuan, more than zero."))
    if price != price.quantize(PRICE_STEP):
        raise BusinessError(_("A unit price has at most four decimals."))
    list_price = list_price_of(line)
    if price >= list_price:
        raise BusinessError(
            _(
                "The discounted price must be below the agreement price of ¥%(price)s.",
                price=f"{list_price:,.4f}".rstrip("0").rstrip("."),
            )
        )
    why = _reason(reason, _("Say why the discount is needed."))
    discount = OrderDiscount(
        order_id=order.id,
        order_line_id=line.id,
        list_price=list_price,
        unit_price=price,
        reason=why,
        status=DiscountStatus.PENDING,
        requested_by_id=actor.id,
    )
    db.session.add(discount)
    engine.record_note(order, actor, "discount_requested", comment=why, data=_details(line, list_price, price))
    try:
        db.session.flush()
    except IntegrityError:  # another request on the line at the same moment (uq_order_discounts_one_pending)
        db.session.rollback()
        raise BusinessError(
            _("A discount on %(product)s already awaits a manager's decision.", product=line.product.name)
        ) from None
    return discount


def _details(line: OrderLine, list_price: Decimal, price: Decimal) -> dict:
    return {
        "line_id": line.id,
        "product": line.product.name,
        "list_price": str(list_price),
        "unit_price": str(price),
    }


def refusal(discount: OrderDiscount, actor) -> str | None:
    """Why ``actor`` may not decide ``discount`` (pending, on an order they see), or None."""
    if actor.role not in DECIDERS:
        return _("Only a manager decides a discount.")
    if actor.id is not None and actor.id == discount.requested_by_id:
        return _("You asked for this discount: another manager must decide it.")
    return None


def decide(discount: OrderDiscount, actor, *, seen_version, approve: bool, comment) -> None:
    """Approve (the line takes the price, the order its new total) or reject a pending discount, with a reason."""
    order = discount.order
    engine.ensure_visible(order, actor)
    check_version(discount, seen_version)  # decided by someone else since the page was loaded: 409
    if discount.status != DiscountStatus.PENDING:
        raise stale_record()
    why = refusal(discount, actor)
    if why:
        raise BusinessError(why)
    comment = _reason(comment, _("Say why you approve or reject the discount."))
    if approve and order.state not in DISCOUNTABLE:
        raise BusinessError(
            _("The order is “%(state)s”: its prices can no longer change.", state=order.state_def.label)
        )
    # Read everything before changing anything: a lazy load in between would autoflush half a decision.
    line, lines = discount.line, list(order.lines)
    details = {**_details(line, discount.list_price, discount.unit_price), "discount_id": discount.id}
    try:
        with db.session.no_autoflush:
            discount.status = DiscountStatus.APPROVED if approve else DiscountStatus.REJECTED
            discount.decided_by_id = actor.id
            discount.decided_at = utcnow()
            discount.decision_reason = comment
            if approve:
                line.unit_price = discount.unit_price
                line.amount = (discount.unit_price * line.quantity).quantize(CENT, ROUND_HALF_UP)
                order.total = sum((other.amount for other in lines), Decimal("0"))
            engine.record_note(
                order, actor, "discount_approved" if approve else "discount_rejected", comment=comment, data=details
            )
        db.session.flush()
    except StaleDataError:  # another manager decided it (or the order changed) between our read and our write
        db.session.rollback()
        raise stale_record() from None
