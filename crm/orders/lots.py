"""Entering lots (批号): the order desk records each finished-goods lot released for sale."""

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


def add_lot(actor, *, product_id, number, produced_on: date | None, expires_on: date | None, quantity) -> Lot:
    if actor.role not in (Role.SERVICE, Role.ADMIN):
        raise BusinessError(_("Only the order desk enters lots."))
    try:
        product = db.session.get(Product, int(str(product_id)))
    except (TypeError, ValueError):
        product = None
    if product is None or not product.active:
        raise BusinessError(_("Choose a product from the list."))
    number = "".join(str(number or "").split()).upper()
    if not number or len(number) > 32:
        raise BusinessError(_("Enter the lot number (at most 32 characters)."))
    if produced_on is None or expires_on is None:
        raise BusinessError(_("Enter the production and expiry dates."))
    if expires_on <= produced_on:
        raise BusinessError(_("The expiry date must come after the production date."))
    try:
        count = int(str(quantity).strip())
    except (TypeError, ValueError):
        count = 0
    if not 0 < count <= MAX_LOT_QUANTITY:
        raise BusinessError(_("The quantity released is a whole number from 1 to 100,000,000."))
    if db.session.scalar(select(Lot.id).where(Lot.product_id == product.id, Lot.number == number)):
        raise BusinessError(_("Lot %(number)s of %(product)s is already entered.", number=number, product=product.name))
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
