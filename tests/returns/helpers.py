"""Returns for the route matrices: one request from a delivered order's shipment."""

from __future__ import annotations

from crm.extensions import db
from crm.orders.models import Order
from crm.returns import services


def sample_return(order_id: int, actor, *, quantity: int = 1) -> int:
    """A damaged-goods return of ``quantity`` units of the order's first shipment item, asked by ``actor``; flushes."""
    shipment = db.session.get(Order, order_id).shipments[0]
    request = services.request_return(
        actor,
        shipment_id=shipment.id,
        kind="return",
        reason="damaged",
        lines=[services.WantedReturn(shipment.items[0].id, quantity)],
        description="矩阵退货",
    )
    return request.id
