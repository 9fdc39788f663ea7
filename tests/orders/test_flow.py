"""An order from the portal to its invoice, through the services, on records a user would make."""

from __future__ import annotations

from crm.extensions import db
from crm.orders.models import Lot, Order, ShippedCode


def test_every_state_can_be_reached(app, drive_order):
    for state in ("submitted", "confirmed", "on_hold", "picking", "shipped", "delivered", "invoiced", "closed"):
        order_id = drive_order(state)
        with app.app_context():
            assert db.session.get(Order, order_id).state == state


def test_a_shipment_takes_stock_and_records_codes(app, drive_order, lots):
    order_id = drive_order("shipped")
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert [line.left for line in order.lines] == [0, 0]
        assert db.session.get(Lot, lots["dan"]).quantity_left == 998
        assert db.session.get(Lot, lots["amox"]).quantity_left == 997
        assert db.session.query(ShippedCode).count() == 2
