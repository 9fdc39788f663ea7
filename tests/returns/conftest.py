"""Fixtures of the return tests: delivered orders of the order tests' shop, and returns driven to any state."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from crm.access.roles import Role
from crm.extensions import db
from crm.orders.models import Order, ShipmentItem, ShippedCode
from crm.returns import services
from crm.returns.models import ReturnRequest
from crm.returns.workflow import RETURN_MACHINE
from tests.orders.conftest import drive_order, factory, lots, people, products, shop, user  # noqa: F401  (fixtures)


@dataclass(frozen=True)
class Shipped:
    order_id: int
    shipment_id: int
    dan_item: int  # 2 × 丹参滴丸 with trace codes
    amox_item: int  # 3 × 阿莫西林胶囊
    dan_codes: tuple[str, ...]


def shipped(app, order_id: int) -> Shipped:
    with app.app_context():
        order = db.session.get(Order, order_id)
        shipment = order.shipments[0]
        items = {item.lot.product.requires_trace_codes: item for item in shipment.items}
        codes = db.session.scalars(
            select(ShippedCode.code).where(ShippedCode.shipment_item_id == items[True].id).order_by(ShippedCode.id)
        ).all()
        return Shipped(order_id, shipment.id, items[True].id, items[False].id, tuple(codes))


@pytest.fixture
def delivered(app, drive_order):  # noqa: F811
    """``delivered()`` → a fresh delivered order of the shop, as ``Shipped``."""
    return lambda: shipped(app, drive_order("delivered"))


def ask(app, goods: Shipped, actor_id: int, *, kind="return", reason="damaged", amox=0, dan=0, codes=None) -> int:
    """A return request through the service; returns its id (raises the service's refusal)."""
    with app.app_context():
        lines = []
        if amox:
            lines.append(services.WantedReturn(goods.amox_item, amox))
        if dan:
            lines.append(services.WantedReturn(goods.dan_item, dan, "\n".join(codes or goods.dan_codes[:dan])))
        request = services.request_return(
            user(actor_id), shipment_id=goods.shipment_id, kind=kind, reason=reason, lines=lines, description="外箱破损"
        )
        db.session.commit()
        return request.id


def claimed(app, item_id: int) -> int:
    with app.app_context():
        return db.session.get(ShipmentItem, item_id).return_claimed


@pytest.fixture
def drive_return(app, delivered, shop, people):  # noqa: F811
    """``drive_return("inspected", kind="exchange")`` → id of a return brought there through the services."""

    def drive_to(state: str, kind: str = "return", reason: str = "damaged") -> int:
        goods = delivered()
        return_id = ask(app, goods, shop.portal_user_id, kind=kind, reason=reason, amox=2, dan=1)
        path = RETURN_MACHINE.path_to(state)
        if state == "refunded" or state == "replaced":
            path = [*RETURN_MACHINE.path_to("inspected"), "refund" if state == "refunded" else "replace"]
        elif state == "closed":
            path = [*RETURN_MACHINE.path_to("inspected"), "refund" if kind == "return" else "replace", "close"]
        with app.app_context():
            desk = user(people[Role.SERVICE].id)
            for event in path:
                record = db.session.get(ReturnRequest, return_id)
                if event == "reject":
                    services.reject(record, desk, seen_version=record.version, comment="不符合退货条件")
                elif event == "receive":
                    services.record_receipt(record, desk, seen_version=record.version, received={})
                elif event == "inspect":
                    verdicts = {line.id: services.Verdict("restock") for line in record.lines}
                    services.record_inspection(record, desk, seen_version=record.version, verdicts=verdicts)
                elif event == "refund":
                    services.refund(record, desk, seen_version=record.version)
                elif event == "replace":
                    services.replace(record, desk, seen_version=record.version)
                else:
                    services.fire(record, event, desk, seen_version=record.version)
                db.session.commit()
            record = db.session.get(ReturnRequest, return_id)
            assert record.state == state, (record.state, state)
        return return_id

    return drive_to
