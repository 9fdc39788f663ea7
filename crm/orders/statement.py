"""A distributor's statement (对账单): orders, invoices, payments and credit notes per month, balance, overdue.

Invoices are what the distributor owes; payments settle the account, oldest
invoice first; credit notes of refunded returns (红字, crm.returns) reduce what it
owes. Four aggregate queries, whatever the number of months.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from crm.common.time import local_today
from crm.extensions import db
from crm.orders.gates import exposure
from crm.orders.models import Invoice, Order, Payment

ZERO = Decimal("0.00")


@dataclass
class Month:
    month: str  # 2026-12
    ordered: Decimal = ZERO
    invoiced: Decimal = ZERO
    paid: Decimal = ZERO
    credited: Decimal = ZERO  # credit notes of refunded returns
    balance: Decimal = ZERO  # invoiced minus paid and credited, to the end of the month


@dataclass
class Statement:
    months: list[Month] = field(default_factory=list)
    balance: Decimal = ZERO
    overdue: Decimal = ZERO
    credit_limit: Decimal | None = None
    available: Decimal | None = None
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    credit_notes: list = field(default_factory=list)


def _by_month(column, amount, where) -> dict[str, Decimal]:
    month = func.substr(func.cast(column, db.String), 1, 7)
    rows = db.session.execute(select(month, func.sum(amount)).where(where).group_by(month))
    return {key: Decimal(total).quantize(Decimal("0.01")) for key, total in rows if key}


def statement_of(distributor_id: int, today: date | None = None) -> Statement:
    # Credit notes belong to the returns package, which builds on orders: read late, not at import.
    from crm.returns.models import CreditNote

    today = today or local_today()
    ordered = _by_month(
        Order.created_at, Order.total, (Order.distributor_id == distributor_id) & (Order._state != "cancelled")
    )
    invoiced = _by_month(Invoice.issued_on, Invoice.amount, Invoice.distributor_id == distributor_id)
    paid = _by_month(Payment.received_on, Payment.amount, Payment.distributor_id == distributor_id)
    credited = _by_month(CreditNote.issued_on, CreditNote.amount, CreditNote.distributor_id == distributor_id)
    totals: dict[str, Month] = defaultdict(lambda: Month(""))
    for key in sorted({*ordered, *invoiced, *paid, *credited}):
        totals[key] = Month(
            key, ordered.get(key, ZERO), invoiced.get(key, ZERO), paid.get(key, ZERO), credited.get(key, ZERO)
        )
    running = ZERO
    for key in sorted(totals):
        running += totals[key].invoiced - totals[key].paid - totals[key].credited
        totals[key].balance = running
    money = exposure(distributor_id, today=today)
    return Statement(
        months=[totals[key] for key in sorted(totals, reverse=True)],
        balance=running,
        overdue=money.overdue,
        credit_limit=money.limit,
        available=money.available,
        invoices=list(
            db.session.scalars(
                select(Invoice).where(Invoice.distributor_id == distributor_id).order_by(Invoice.issued_on.desc())
            )
        ),
        payments=list(
            db.session.scalars(
                select(Payment).where(Payment.distributor_id == distributor_id).order_by(Payment.received_on.desc())
            )
        ),
        credit_notes=list(
            db.session.scalars(
                select(CreditNote)
                .where(CreditNote.distributor_id == distributor_id)
                .order_by(CreditNote.issued_on.desc(), CreditNote.id.desc())
            )
        ),
    )
