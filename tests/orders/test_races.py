"""Races on both databases: the last units of a lot, one order shipped twice, one trace code on two shipments.

Each contender runs in its own thread with its own session, released together
by a barrier, as two gunicorn workers would.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from crm.access.roles import Role
from crm.common.errors import BusinessError, Conflict
from crm.extensions import db
from crm.orders import services, stock
from crm.orders.models import Lot, Order, Shipment, ShippedCode
from tests.orders.conftest import add_lot, fresh_codes, user


def _race(app, contenders: int, work) -> list[str]:
    """Run ``work(i)`` in ``contenders`` threads at once; each returns an outcome string."""
    start, outcomes, lock = threading.Barrier(contenders), [], threading.Lock()

    def run(i):
        with app.app_context():
            start.wait()
            try:
                outcome = work(i)
                db.session.commit()
            except BusinessError as refused:
                db.session.rollback()
                outcome = type(refused).__name__
            except Exception as failed:  # what a real worker would answer 500 with: the test must see it
                db.session.rollback()
                outcome = f"error: {failed!r}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_twenty_takers_for_ten_units_leave_ten_with_nothing(app, shop):
    lot_id = add_lot(app, shop.amox, "AM-LAST", quantity=10)

    def take(_i):
        stock.take(lot_id, 1)
        return "took"

    outcomes = _race(app, 20, take)
    assert outcomes.count("took") == 10
    assert outcomes.count("OutOfStock") == 10
    with app.app_context():
        assert db.session.get(Lot, lot_id).quantity_left == 0


def test_two_shipments_for_a_lots_last_units_one_fails_with_a_message(app, drive_order, people, shop):
    lot_id = add_lot(app, shop.amox, "AM-TWO", quantity=3)
    orders = [drive_order("picking"), drive_order("picking")]  # 3 × 阿莫西林 each

    def ship(i):
        order = db.session.get(Order, orders[i])
        line = order.lines[1]
        services.record_shipment(
            order,
            user(people[Role.SERVICE].id),
            seen_version=order.version,
            carrier="顺丰",
            waybill=f"SF{i}",
            shipped_on=None,
            items=[services.ShipmentLine(line.id, lot_id, 3, "")],
        )
        return "shipped"

    assert _race(app, 2, ship) == ["OutOfStock", "shipped"]
    with app.app_context():
        assert db.session.get(Lot, lot_id).quantity_left == 0
        assert db.session.scalar(select(func.count()).select_from(Shipment).where(Shipment.order_id.in_(orders))) == 1


def test_two_people_shipping_one_order_one_gets_a_conflict(app, drive_order, lots, people, make_user):
    order_id = drive_order("picking")
    desks = [people[Role.SERVICE].id, make_user(Role.SERVICE).id]
    with app.app_context():
        order = db.session.get(Order, order_id)
        seen, line_id = order.version, order.lines[1].id

    def ship(i):
        order = db.session.get(Order, order_id)
        services.record_shipment(
            order,
            user(desks[i]),
            seen_version=seen,
            carrier="顺丰",
            waybill=f"SF{i}",
            shipped_on=None,
            items=[services.ShipmentLine(line_id, lots["amox"], 1, "")],
        )
        return "shipped"

    assert _race(app, 2, ship) == [Conflict.__name__, "shipped"]
    with app.app_context():
        assert db.session.get(Order, order_id).lines[1].shipped == 1
        assert db.session.get(Lot, lots["amox"]).quantity_left == 999


def test_two_people_confirming_one_order_one_gets_a_conflict(app, shop, people, make_user):
    from tests.orders.conftest import place

    order_id = place(app, shop)
    desks = [people[Role.SERVICE].id, make_user(Role.SERVICE).id]
    with app.app_context():
        seen = db.session.get(Order, order_id).version

    def confirm(i):
        services.confirm(db.session.get(Order, order_id), user(desks[i]), seen_version=seen)
        return "confirmed"

    assert _race(app, 2, confirm) == [Conflict.__name__, "confirmed"]


def test_one_trace_code_on_two_shipments_at_once_one_is_refused(app, drive_order, lots, people):
    orders = [drive_order("picking"), drive_order("picking")]
    codes = "\n".join(fresh_codes(2))

    def ship(i):
        order = db.session.get(Order, orders[i])
        line = order.lines[0]
        services.record_shipment(
            order,
            user(people[Role.SERVICE].id),
            seen_version=order.version,
            carrier="顺丰",
            waybill=f"SF{i}",
            shipped_on=None,
            items=[services.ShipmentLine(line.id, lots["dan"], 2, codes)],
        )
        return "shipped"

    outcomes = _race(app, 2, ship)
    assert outcomes[1] == "shipped"
    assert outcomes[0] in ("CodesRefused", "ShipmentRefused"), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShippedCode)) == 2
        assert db.session.get(Lot, lots["dan"]).quantity_left == 998
