"""The gates an order passes to be confirmed, released and shipped, each with the reason a user reads.

The machine's guards call these (pass or fail); the order page calls ``report``
to show every gate with its own reason. Each gate is ``(order, actor) -> GateResult``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.common.time import local_today
from crm.distributors.models import (
    AgreementLine,
    AgreementStatus,
    DocumentKind,
    QualificationDocument,
)
from crm.extensions import db
from crm.orders.models import Credit, Invoice, Order, OrderPolicy, Payment
from crm.screening.gates import GateResult

# Orders the maker has accepted and not yet invoiced: what the distributor will owe. Orders still
# waiting to be confirmed or held are not counted (each is decided on its own, against these).
COMMITTED_STATES = ("confirmed", "picking", "shipped", "delivered")
REQUIRED_LICENCES = (DocumentKind.DRUG_TRADING_LICENCE, DocumentKind.GSP_CERTIFICATE)


def policy() -> OrderPolicy:
    """The single order-policy row; until an admin first saves it, its defaults (reading never writes)."""
    row = db.session.get(OrderPolicy, 1)
    if row is None:
        defaults = {column.key: column.default.arg for column in OrderPolicy.__table__.c if column.default}
        row = OrderPolicy(id=1, **defaults)
    return row


def distributor_active(order: Order, actor) -> GateResult:
    state = order.distributor.state
    passed = state == "active"
    return GateResult(
        "distributor_active",
        _("Distributor active"),
        passed,
        _("The distributor is active.")
        if passed
        else _("The distributor is “%(state)s”.", state=order.distributor.state_def.label),
    )


def valid_licences(distributor_id: int, today: date) -> dict[DocumentKind, QualificationDocument]:
    """The distributor's current drug-trading licence and GSP certificate valid on ``today``."""
    documents = db.session.scalars(
        select(QualificationDocument).where(
            QualificationDocument.distributor_id == distributor_id,
            QualificationDocument.superseded_at.is_(None),
            QualificationDocument.kind.in_(REQUIRED_LICENCES),
            QualificationDocument.expires_on >= today,
        )
    )
    return {document.kind: document for document in documents}


def licences_valid(order: Order, actor, today: date | None = None) -> GateResult:
    found = valid_licences(order.distributor_id, today or local_today())
    missing = [kind.label for kind in REQUIRED_LICENCES if kind not in found]
    return GateResult(
        "licences_valid",
        _("Licences valid"),
        not missing,
        _("Drug-trading licence and GSP certificate valid today.")
        if not missing
        else _("Not valid or not on file today: %(kinds)s.", kinds="、".join(missing)),
    )


def agreement_in_force(order: Order, actor, today: date | None = None) -> GateResult:
    agreement = order.agreement
    today = today or local_today()
    passed = (
        agreement is not None
        and agreement.status == AgreementStatus.SIGNED
        and (agreement.starts_on is None or agreement.starts_on <= today)
        and (agreement.ends_on is None or today <= agreement.ends_on)
    )
    return GateResult(
        "agreement_in_force",
        _("Agreement in force"),
        passed,
        _("Agreement %(number)s is in force.", number=agreement.number)
        if passed
        else _("The order's agreement is not in force today."),
    )


def grant_for(agreement_id: int, product_id: int, county: str) -> AgreementLine | None:
    """The agreement's grant of ``product_id`` whose territory contains the county ``county``."""
    return db.session.scalars(
        select(AgreementLine).where(
            AgreementLine.agreement_id == agreement_id,
            AgreementLine.product_id == product_id,
            AgreementLine.code_lo <= county,
            AgreementLine.code_hi >= county,
        )
    ).first()


def ships_inside_the_grants(order: Order, actor) -> GateResult:
    outside = [
        line.product.name
        for line in order.lines
        if grant_for(order.agreement_id, line.product_id, order.ship_to_code) is None
    ]
    return GateResult(
        "ships_inside_the_grants",
        _("Ships inside the agreement's territory"),
        not outside,
        _("Every product may be shipped to %(place)s.", place=order.ship_to.full_name)
        if not outside
        else _(
            "%(place)s is outside the agreement's territory for %(products)s.",
            place=order.ship_to.full_name,
            products="、".join(outside),
        ),
    )


@dataclass(frozen=True)
class Exposure:
    """What a distributor owes and will owe (元), against its credit limit."""

    limit: Decimal | None
    unpaid: Decimal  # invoiced, not yet paid
    open_orders: Decimal  # accepted, not yet invoiced (and the order being decided)
    overdue: Decimal  # of the unpaid, what is past its due date

    @property
    def total(self) -> Decimal:
        return self.unpaid + self.open_orders

    @property
    def available(self) -> Decimal | None:
        return None if self.limit is None else self.limit - self.total


def exposure(distributor_id: int, *, including: Order | None = None, today: date | None = None) -> Exposure:
    """The distributor's exposure, counting ``including`` (the order being decided) once.

    Payments are against the account and settle the oldest invoices first, so
    what is overdue is what the payments have not covered of the invoices due
    before today.
    """
    today = today or local_today()
    zero = Decimal("0")
    invoiced = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.amount), 0)).where(Invoice.distributor_id == distributor_id)
    )
    due = db.session.scalar(
        select(func.coalesce(func.sum(Invoice.amount), 0)).where(
            Invoice.distributor_id == distributor_id, Invoice.due_on < today
        )
    )
    paid = db.session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.distributor_id == distributor_id)
    )
    others = select(func.coalesce(func.sum(Order.total), 0)).where(
        Order.distributor_id == distributor_id, Order._state.in_(COMMITTED_STATES)
    )
    if including is not None and including.id is not None:
        others = others.where(Order.id != including.id)
    open_orders = Decimal(db.session.scalar(others)) + (including.total if including is not None else zero)
    credit = db.session.get(Credit, distributor_id)
    return Exposure(
        limit=credit.credit_limit if credit else None,
        unpaid=max(Decimal(invoiced) - Decimal(paid), zero),
        open_orders=open_orders,
        overdue=max(Decimal(due) - Decimal(paid), zero),
    )


def credit_ok(order: Order, actor) -> GateResult:
    money = exposure(order.distributor_id, including=order)
    if money.limit is None:
        passed, reason = False, _("No credit limit is set for this distributor.")
    elif money.overdue > 0:
        passed, reason = False, _("¥%(amount)s of invoices are overdue.", amount=f"{money.overdue:,.2f}")
    elif money.total > money.limit:
        passed, reason = (
            False,
            _(
                "Owed and ordered ¥%(total)s would exceed the credit limit of ¥%(limit)s.",
                total=f"{money.total:,.2f}",
                limit=f"{money.limit:,.2f}",
            ),
        )
    else:
        passed, reason = True, _("¥%(left)s of credit left after this order.", left=f"{money.available:,.2f}")
    return GateResult("credit_ok", _("Credit"), passed, reason)


def not_the_asker(order: Order, actor) -> GateResult:
    passed = actor.id not in {order.held_by_id, order.release_asked_by_id, order.placed_by_id}
    return GateResult(
        "not_the_asker",
        _("Released by someone else"),
        passed,
        _("Someone else placed, held and asked to release the order.")
        if passed
        else _("You placed this order, put it on hold or asked for its release."),
    )


def fully_shipped(order: Order, actor) -> GateResult:
    left = sum(line.left for line in order.lines)
    return GateResult(
        "fully_shipped",
        _("Fully shipped"),
        left == 0,
        _("Every line is shipped.") if left == 0 else _("%(count)s units still to ship.", count=left),
    )


def actor_may_cancel(order: Order, actor) -> GateResult:
    passed = actor.role != Role.DISTRIBUTOR or order.state == "submitted"
    return GateResult(
        "actor_may_cancel",
        _("May cancel"),
        passed,
        _("The order may be cancelled.") if passed else _("The order desk has confirmed it: ask them to cancel."),
    )


def no_pending_discount(order: Order, actor) -> GateResult:
    from crm.orders.discounts import has_pending

    waiting = has_pending(order)
    return GateResult(
        "no_pending_discount",
        _("Prices settled"),
        not waiting,
        _("No discount request awaits a decision.")
        if not waiting
        else _("A discount request awaits a manager's decision: the order is confirmed and picked at its final price."),
    )


SUPPLY = (distributor_active, licences_valid, agreement_in_force, ships_inside_the_grants)


def report(order: Order, actor) -> list[GateResult]:
    """Every supply, credit and price gate of the order, passed or failed, for the order page."""
    return [gate(order, actor) for gate in (*SUPPLY, credit_ok, no_pending_discount)]
