"""Fixtures of the order tests: a signed, supplied distributor with its portal user, lots, orders in any state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.distributors.models import AgreementLine, DocumentKind, QualificationDocument
from crm.extensions import db
from crm.orders import services
from crm.orders.models import Credit, Lot, Order
from crm.orders.workflow import ORDER_MACHINE
from crm.products.models import Product
from tests.distributors.conftest import factory, people, products  # noqa: F401  (fixtures)

DRUG_CODE = "8123456"  # 丹参滴丸's 药品标识码
_serial = itertools.count(1)  # trace codes never repeat across the tests of a run


def code(n: int, prefix: str = DRUG_CODE) -> str:
    """The ``n``-th trace code of a product: 7-digit prefix and 13 digits."""
    return f"{prefix}{n:013d}"


@dataclass(frozen=True)
class Shop:
    distributor_id: int
    agreement_id: int
    portal_user_id: int
    dan: int  # 丹参滴丸: requires trace codes, granted in 南山区 (440305)
    amox: int  # 阿莫西林胶囊: no trace codes, granted in all of 深圳 (440300)


@pytest.fixture
def shop(app, factory, people, products, make_user) -> Shop:  # noqa: F811
    made = factory.signed([(products["丹参滴丸"], "440305", False), (products["阿莫西林胶囊"], "440300", False)])
    with app.app_context():
        for line in db.session.query(AgreementLine).filter_by(agreement_id=made.agreement_id):
            line.unit_price = Decimal("25.5000") if line.product_id == products["丹参滴丸"] else Decimal("12.0000")
        dan = db.session.get(Product, products["丹参滴丸"])
        dan.drug_code, dan.requires_trace_codes = DRUG_CODE, True
        db.session.add(
            QualificationDocument(
                distributor_id=made.distributor_id,
                kind=DocumentKind.GSP_CERTIFICATE,
                number="粤GSP0001",
                expires_on=local_today() + timedelta(days=400),
                stored_name="gsp.pdf",
                original_name="GSP证书.pdf",
                content_type="application/pdf",
                size=1024,
            )
        )
        db.session.add(Credit(distributor_id=made.distributor_id, credit_limit=Decimal("100000"), payment_days=30))
        db.session.commit()
    portal = make_user(Role.DISTRIBUTOR, company_id=made.distributor_id)
    return Shop(made.distributor_id, made.agreement_id, portal.id, products["丹参滴丸"], products["阿莫西林胶囊"])


def add_lot(app, product_id: int, number: str, *, quantity: int = 1000, expires_in_days: int = 720) -> int:
    with app.app_context():
        today = local_today()
        lot = Lot(
            product_id=product_id,
            number=number,
            produced_on=today - timedelta(days=30),
            expires_on=today + timedelta(days=expires_in_days),
            quantity_released=quantity,
            quantity_left=quantity,
        )
        db.session.add(lot)
        db.session.commit()
        return lot.id


@pytest.fixture
def lots(app, shop) -> dict[str, int]:
    return {
        "dan": add_lot(app, shop.dan, "DS240101"),
        "amox": add_lot(app, shop.amox, "AM240101"),
    }


def user(user_id: int) -> User:
    return db.session.get(User, user_id)


def place(app, shop: Shop, *, dan: int = 2, amox: int = 3, ship_to: str = "440305", actor_id: int | None = None) -> int:
    """An order placed on the portal (by the distributor's own user unless ``actor_id``); returns its id."""
    with app.app_context():
        wanted = [services.WantedLine(shop.dan, dan), services.WantedLine(shop.amox, amox)]
        order = services.place_order(
            user(actor_id or shop.portal_user_id),
            distributor_id=shop.distributor_id,
            ship_to_code=ship_to,
            ship_to_address="深圳市南山区科技园路1号",
            receiver_name="王收货",
            receiver_phone="13800138000",
            lines=[w for w in wanted if w.quantity],
        )
        db.session.commit()
        return order.id


def fresh_codes(count: int) -> list[str]:
    return [code(next(_serial)) for _ in range(count)]


def ship_all(order: Order, actor, lots: dict[str, int]) -> None:
    """Record one shipment of every line's remainder, with trace codes for 丹参滴丸."""
    items = []
    for line in order.lines:
        lot_key = "dan" if line.product.requires_trace_codes else "amox"
        codes = "\n".join(fresh_codes(line.left)) if line.product.requires_trace_codes else ""
        items.append(services.ShipmentLine(line.id, lots[lot_key], line.left, codes))
    services.record_shipment(
        order, actor, seen_version=order.version, carrier="顺丰", waybill="SF100", shipped_on=None, items=items
    )


@pytest.fixture
def drive_order(app, shop, lots, people):  # noqa: F811
    """``drive_order("invoiced")`` → id of an order brought there through the services."""

    def drive_to(state: str) -> int:
        order_id = place(app, shop)
        with app.app_context():
            order = db.session.get(Order, order_id)
            desk, manager = user(people[Role.SERVICE].id), user(people[Role.MANAGER].id)
            portal = user(shop.portal_user_id)
            for event in ORDER_MACHINE.path_to(state):
                if event == "confirm":
                    services.confirm(order, desk, seen_version=order.version)
                elif event == "hold":
                    services.hold(order, desk, seen_version=order.version, comment="客户要求暂缓")
                elif event == "ship":
                    ship_all(order, desk, lots)
                elif event == "confirm_receipt":
                    services.confirm_receipt(order, portal, seen_version=order.version)
                elif event == "invoice":
                    services.record_invoice(
                        order,
                        desk,
                        seen_version=order.version,
                        number=f"2644{order.id:016d}",
                        issued_on=date.today(),
                        amount=order.total,
                    )
                elif event == "cancel":
                    services.fire(order, "cancel", desk, seen_version=order.version, comment="客户取消")
                else:
                    services.fire(order, event, desk if event != "release" else manager, seen_version=order.version)
                db.session.commit()
            assert order.state == state, (order.state, state)
        return order_id

    return drive_to
