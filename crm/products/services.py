"""Creating and editing products (品种)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from crm.common.errors import BusinessError, check_version
from crm.common.validators import normalize_approval_number
from crm.extensions import db
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product, Terminal


def _apply(product: Product, fields: dict) -> None:
    name = (fields.get("name") or "").strip()
    specification = (fields.get("specification") or "").strip()
    if not name or not specification:
        raise BusinessError(_("Enter the product name and its specification."))
    number = normalize_approval_number(fields.get("approval_number"))
    if number is None:
        raise BusinessError(
            _("The approval number must look like 国药准字H20003263: 国药准字, a letter (H, Z, S, J …) and 8 digits.")
        )
    clash = db.session.scalar(select(Product).where(Product.approval_number == number, Product.id != (product.id or 0)))
    if clash is not None:
        raise BusinessError(_("Another product already has this approval number: %(name)s.", name=clash.name))
    try:
        dosage_form = DosageForm(fields.get("dosage_form"))
        insurance_class = InsuranceClass(fields.get("insurance_class"))
        dispensing = Dispensing(fields.get("dispensing"))
        terminals = {Terminal(t) for t in fields.get("terminals") or ()}
    except ValueError as error:
        raise BusinessError(_("Choose the dosage form, insurance class and Rx/OTC from the lists.")) from error
    product.name, product.specification, product.approval_number = name, specification, number
    product.dosage_form, product.insurance_class, product.dispensing = dosage_form, insurance_class, dispensing
    product.for_hospital = Terminal.HOSPITAL in terminals
    product.for_pharmacy = Terminal.PHARMACY in terminals
    product.for_third_terminal = Terminal.THIRD_TERMINAL in terminals
    product.is_exclusive = bool(fields.get("is_exclusive"))
    product.active = bool(fields.get("active"))


def create_product(**fields) -> Product:
    """Add a product to the catalogue after validating its approval number."""
    product = Product()
    _apply(product, fields)
    db.session.add(product)
    db.session.flush()
    return product


def update_product(product: Product, *, seen_version, **fields) -> None:
    """Edit a product; a stale form answers a conflict. Deactivate by clearing ``active``."""
    check_version(product, seen_version)
    _apply(product, fields)
    db.session.flush()
