"""Entering lots (批号): the order desk records each finished-goods lot released for sale.

The rules of one lot are here, for the form and for the import (``crm.orders.lot_import``) alike."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from crm.access.roles import Role
from crm.common.errors import BusinessError
from crm.extensions import db
from crm.orders.models import Lot
from crm.products.models import Product

MAX_LOT_QUANTITY = 100_000_000
MAX_NUMBER_CHARS = 32


def clean_number(raw) -> str:
    """A lot number as stored: no blanks, upper case (批号 are printed and scanned that way)."""
    return "".join(str(raw or "").split()).upper()


def number_problem(number: str) -> str | None:
    if not number or len(number) > MAX_NUMBER_CHARS:
        return _("Enter the lot number (at most 32 characters).")
    return None


def quantity_problem(count: int | None) -> str | None:
    if count is None or not 0 < count <= MAX_LOT_QUANTITY:
        return _("The quantity released is a whole number from 1 to 100,000,000.")
    return None


def dates_problem(produced_on: date | None, expires_on: date | None) -> str | None:
    if produced_on is None or expires_on is None:
        return _("Enter the production and expiry dates.")
    if expires_on <= produced_on:
        return _("The expiry date must come after the production date.")
    return None


def already_entered(product: Product, number: str) -> str:
    return _("Lot %(number)s of %(product)s is already entered.", number=number, product=product.name)


def add_lot(actor, *, product_id, number, produced_on: date | None, expires_on: date | None, quantity) -> Lot:
    if actor.role not in (Role.SERVICE, Role.ADMIN):
        raise BusinessError(_("Only the order desk enters lots."))
    try:
        product = db.session.get(Product, int(str(product_id)))
    except (TypeError, ValueError):
        product = None
    if product is None or not product.active:
        raise BusinessError(_("Choose a product from the list."))
    number = clean_number(number)
    try:
        count = int(str(quantity).strip())
    except (TypeError, ValueError):
        count = None
    problem = number_problem(number) or dates_problem(produced_on, expires_on) or quantity_problem(count)
    if problem:
        raise BusinessError(problem)
    if db.session.scalar(select(Lot.id).where(Lot.product_id == product.id, Lot.number == number)):
        raise BusinessError(already_entered(product, number))
    lot = Lot(
        product_id=product.id,
        number=number,
        produced_on=produced_on,
        expires_on=expires_on,
        quantity_released=count,
        quantity_left=count,
        created_by_id=actor.id,
    )
    db.session.add(lot)
    db.session.flush()
    return lot
