"""Orders for the route matrices: a distributor made suppliable, and orders of it in the states the routes need."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from crm.common.time import local_today
from crm.distributors.agreements import territory_range
from crm.distributors.models import (
    Agreement,
    AgreementLine,
    AgreementStatus,
    Distributor,
    DocumentKind,
    QualificationDocument,
)
from crm.extensions import db
from crm.orders import services
from crm.orders.models import Credit, Lot, Order
from crm.workflow import engine

STATES = ("submitted", "on_hold", "picking", "shipped", "delivered")


def add_supply_papers(distributor_id: int, credit_limit: Decimal) -> None:
    """What the supply gates ask of a distributor besides its agreement: both licences valid for a year, and credit.

    Shared by the route matrices and bench/orders.py; the session is not flushed.
    """
    today = local_today()
    for kind in (DocumentKind.DRUG_TRADING_LICENCE, DocumentKind.GSP_CERTIFICATE):
        db.session.add(
            QualificationDocument(
                distributor_id=distributor_id,
                kind=kind,
                number=f"粤{kind.value[:3]}{distributor_id}",
                expires_on=today + timedelta(days=365),
                stored_name=f"{kind.value}-{distributor_id}.pdf",
                original_name="证书.pdf",
                content_type="application/pdf",
                size=100,
            )
        )
    db.session.add(Credit(distributor_id=distributor_id, credit_limit=credit_limit, payment_days=30))


def make_suppliable(distributor_id: int, county: str, product_id: int, admin, number: str) -> None:
    """Active, licensed, with a signed agreement pricing ``product_id`` in ``county`` and credit; flushes."""
    distributor = db.session.get(Distributor, distributor_id)
    if distributor.state == "onboarding":
        engine.apply_event(distributor, "activate", admin, seen_version=distributor.version)
    today = local_today()
    lo, hi = territory_range(county)
    agreement = Agreement(
        number=number,
        distributor_id=distributor_id,
        status=AgreementStatus.SIGNED,
        starts_on=today,
        ends_on=today + timedelta(days=365),
    )
    agreement.lines.append(
        AgreementLine(product_id=product_id, territory_code=county, code_lo=lo, code_hi=hi, unit_price=Decimal("10"))
    )
    db.session.add(agreement)
    add_supply_papers(distributor_id, Decimal("1000000"))
    db.session.flush()


def orders_in_states(distributor_id: int, county: str, product_id: int, admin, lot_id: int) -> dict[str, int]:
    """One order of the distributor in each of ``STATES``, driven there by the services as ``admin``; flushes."""
    made = {}
    for state in STATES:
        order = services.place_order(
            admin,
            distributor_id=distributor_id,
            ship_to_code=county,
            ship_to_address="矩阵路1号",
            receiver_name="矩阵收货人",
            lines=[services.WantedLine(product_id, 2)],
        )
        if state == "on_hold":
            services.hold(order, admin, seen_version=order.version, comment="矩阵暂缓")
        elif state != "submitted":
            services.confirm(order, admin, seen_version=order.version)
            services.fire(order, "start_picking", admin, seen_version=order.version)
            if state != "picking":
                line = order.lines[0]
                services.record_shipment(
                    order,
                    admin,
                    seen_version=order.version,
                    carrier="顺丰",
                    waybill=f"SF-M-{order.id}",
                    shipped_on=None,
                    items=[services.ShipmentLine(line.id, lot_id, 2)],
                )
            if state == "delivered":
                services.confirm_receipt(order, admin, seen_version=order.version)
        assert order.state == state, (order.state, state)
        made[state] = order.id
    return made


def sample_lot(product_id: int, number: str) -> int:
    today = local_today()
    lot = Lot(
        product_id=product_id,
        number=number,
        produced_on=today - timedelta(days=10),
        expires_on=today + timedelta(days=700),
        quantity_released=1000,
        quantity_left=1000,
    )
    db.session.add(lot)
    db.session.flush()
    return lot.id


def shipment_of(order_id: int) -> int:
    return db.session.get(Order, order_id).shipments[0].id
