"""Stock on lots: taking quantity without ever going below zero, and the near-expiry rule.

``take`` is one conditional UPDATE (``quantity_left = quantity_left - n WHERE
quantity_left >= n``): of two shipments racing for a lot's last units exactly
one matches, on PostgreSQL (the second waits for the first's row lock, then
re-reads the row) and on SQLite (write transactions run one at a time). The
CHECK constraint is the last line: a negative quantity never reaches disk.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select, update

from crm.common.errors import BusinessError
from crm.common.time import local_today
from crm.extensions import db
from crm.orders.models import Lot


class OutOfStock(BusinessError):
    """A lot has fewer units left than a shipment takes; nothing was taken."""


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, on the last day of a shorter month (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_near_expiry(lot: Lot, months: int, today: date | None = None) -> bool:
    """Whether ``lot`` has less than ``months`` months of shelf life left on ``today``."""
    return lot.expires_on < add_months(today or local_today(), months)


def take(lot_id: int, quantity: int) -> None:
    """Take ``quantity`` units from the lot, or raise ``OutOfStock`` and take nothing."""
    taken = db.session.execute(
        update(Lot)
        .where(Lot.id == lot_id, Lot.quantity_left >= quantity)
        .values(quantity_left=Lot.quantity_left - quantity)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        lot = db.session.get(Lot, lot_id, populate_existing=True)
        raise OutOfStock(
            _(
                "Lot %(lot)s has %(left)s units left, not %(wanted)s.",
                lot=lot.number if lot else lot_id,
                left=lot.quantity_left if lot else 0,
                wanted=quantity,
            )
        )


def give_back(lot_id: int, quantity: int) -> None:
    """Return ``quantity`` units to a lot (a cancelled shipment, a return put back on the shelf)."""
    db.session.execute(
        update(Lot)
        .where(Lot.id == lot_id, Lot.quantity_left + quantity <= Lot.quantity_released)
        .values(quantity_left=Lot.quantity_left + quantity)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Allocation:
    lot: Lot
    quantity: int
    near_expiry: bool


def propose(product_id: int, quantity: int, *, near_expiry_months: int, accepts_near_expiry: bool) -> list[Allocation]:
    """Lots to pick ``quantity`` units from: earliest expiry first, skipping near-expiry lots unless accepted.

    A proposal, not a reservation: the shipment takes the stock when it is recorded.
    Returns fewer units than asked when the stock is short.
    """
    today = local_today()
    lots = db.session.scalars(
        select(Lot)
        .where(Lot.product_id == product_id, Lot.quantity_left > 0, Lot.expires_on >= today)
        .order_by(Lot.expires_on, Lot.id)
    )
    proposal, wanted = [], quantity
    for lot in lots:
        near = is_near_expiry(lot, near_expiry_months, today)
        if near and not accepts_near_expiry:
            continue
        portion = min(wanted, lot.quantity_left)
        proposal.append(Allocation(lot, portion, near))
        wanted -= portion
        if wanted == 0:
            break
    return proposal
