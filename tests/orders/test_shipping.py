"""Shipping: lots and quantities, the near-expiry rule, trace codes, partial shipments, receipt, invoice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm.access.roles import Role
from crm.common.errors import BusinessError
from crm.common.time import utcnow
from crm.extensions import db
from crm.orders import services, tracecodes
from crm.orders.models import Lot, Order, Shipment, ShippedCode
from crm.workflow.models import WorkflowHistory
from tests.orders.conftest import DRUG_CODE, add_lot, code, fresh_codes, user


def _picking(app, drive_order) -> int:
    return drive_order("picking")


def _ship(app, order_id, desk_id, items, relations=""):
    with app.app_context():
        order = db.session.get(Order, order_id)
        try:
            services.record_shipment(
                order,
                user(desk_id),
                seen_version=order.version,
                carrier="顺丰",
                waybill="SF1",
                shipped_on=None,
                items=[services.ShipmentLine(order.lines[i].id, lot, q, c) for i, lot, q, c in items],
                relations=relations,
            )
            db.session.commit()
            return None
        except services.ShipmentRefused as refused:
            db.session.rollback()
            return refused.problems
        except BusinessError as refused:
            db.session.rollback()
            return [refused.message]


def _nothing_shipped(app, order_id, lots):
    with app.app_context():
        assert db.session.query(Shipment).filter_by(order_id=order_id).count() == 0
        assert db.session.get(Lot, lots["dan"]).quantity_left == 1000
        assert db.session.query(ShippedCode).count() == 0


def test_partial_shipments_keep_the_order_picking_until_all_is_out(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)  # 2 × 丹参滴丸, 3 × 阿莫西林
    desk = people[Role.SERVICE].id
    assert _ship(app, order_id, desk, [(1, lots["amox"], 1, "")]) is None
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.state == "picking"
        assert [(line.shipped, line.left) for line in order.lines] == [(0, 2), (1, 2)]
        notes = [h.event for h in db.session.query(WorkflowHistory).filter_by(workflow="orders", record_id=order_id)]
        assert "partial_shipment" in notes
    assert (
        _ship(app, order_id, desk, [(0, lots["dan"], 2, "\n".join(fresh_codes(2))), (1, lots["amox"], 2, "")]) is None
    )
    with app.app_context():
        assert db.session.get(Order, order_id).state == "shipped"


def test_more_than_is_left_is_refused(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)
    problems = _ship(app, order_id, people[Role.SERVICE].id, [(1, lots["amox"], 4, "")])
    assert problems == ["阿莫西林胶囊：4 件超过了待发的 3 件。"]


def test_a_near_expiry_lot_needs_the_distributors_consent(app, drive_order, lots, people, shop):
    near = add_lot(app, shop.amox, "AM-NEAR", expires_in_days=60)
    order_id = _picking(app, drive_order)
    problems = _ship(app, order_id, people[Role.SERVICE].id, [(1, near, 3, "")])
    assert len(problems) == 1
    assert "经销商未同意接受阿莫西林胶囊的近效期货品" in problems[0]
    with app.app_context():
        db.session.get(Order, order_id).lines[1].accepts_near_expiry = True
        db.session.commit()
    assert _ship(app, order_id, people[Role.SERVICE].id, [(1, near, 3, "")]) is None


def test_an_expired_lot_is_never_shipped(app, drive_order, people, shop):
    with app.app_context():
        today = date.today()
        lot = Lot(
            product_id=shop.amox,
            number="AM-OLD",
            produced_on=today - timedelta(days=800),
            expires_on=today - timedelta(days=1),
            quantity_released=10,
            quantity_left=10,
        )
        db.session.add(lot)
        db.session.commit()
        lot_id = lot.id
    order_id = _picking(app, drive_order)
    problems = _ship(app, order_id, people[Role.SERVICE].id, [(1, lot_id, 3, "")])
    assert "过期" in problems[0]


def test_a_lot_of_another_product_is_refused(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)
    assert _ship(app, order_id, people[Role.SERVICE].id, [(1, lots["dan"], 3, "")]) == [
        "阿莫西林胶囊：请选择该品种的批号。"
    ]


def test_bad_trace_codes_are_listed_with_their_lines_and_change_nothing(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)
    good = fresh_codes(1)[0]
    pasted = f"追溯码\n{good}\n12345\n{code(5, prefix='7000000')}\n"
    problems = _ship(app, order_id, people[Role.SERVICE].id, [(0, lots["dan"], 2, pasted)])
    assert problems[0] == "第 3 行：“12345”不是 20 位追溯码。"
    assert any(p.startswith(f"以下不是丹参滴丸（药品标识码 {DRUG_CODE}）") for p in problems)
    _nothing_shipped(app, order_id, lots)


def test_the_count_must_match_the_quantity(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)
    problems = _ship(app, order_id, people[Role.SERVICE].id, [(0, lots["dan"], 2, fresh_codes(1)[0])])
    assert problems == ["丹参滴丸：2 件货却有 1 个追溯码。"]
    _nothing_shipped(app, order_id, lots)


def test_a_code_is_shipped_once_unless_it_came_back(app, drive_order, lots, people):
    first = _picking(app, drive_order)
    codes = fresh_codes(2)
    assert _ship(app, first, people[Role.SERVICE].id, [(0, lots["dan"], 2, "\n".join(codes))]) is None
    second = _picking(app, drive_order)
    problems = _ship(app, second, people[Role.SERVICE].id, [(0, lots["dan"], 2, "\n".join(codes))])
    assert problems == [f"以下追溯码已发出且未退回：{', '.join(sorted(codes))}。"]
    with app.app_context():
        db.session.query(ShippedCode).filter(ShippedCode.code == codes[0]).update({"returned_at": utcnow()})
        db.session.commit()
    problems = _ship(app, second, people[Role.SERVICE].id, [(0, lots["dan"], 2, "\n".join(codes))])
    assert problems == [f"以下追溯码已发出且未退回：{codes[1]}。"]


def test_a_case_code_stands_for_its_units(app, drive_order, lots, people):
    order_id = _picking(app, drive_order)
    case, units = code(9_000_000_000 + 1), fresh_codes(2)
    relations = "箱码,单品码\n" + "\n".join(f"{case},{unit}" for unit in units)
    assert _ship(app, order_id, people[Role.SERVICE].id, [(0, lots["dan"], 2, case)], relations) is None
    with app.app_context():
        found = tracecodes.whereabouts(units[1])
        order = db.session.get(Order, order_id)
        assert (found.order_number, found.territory_code) == (order.number, "440305")
        assert tracecodes.whereabouts(case) is None


def test_receipt_with_a_shortage_is_recorded_per_line(app, drive_order, shop):
    order_id = drive_order("shipped")
    with app.app_context():
        order = db.session.get(Order, order_id)
        portal = user(shop.portal_user_id)
        line = order.lines[1]
        with pytest.raises(BusinessError, match="请说明短少或破损情况"):
            services.confirm_receipt(order, portal, seen_version=order.version, received={line.id: 2})
        db.session.rollback()
        services.confirm_receipt(
            order, portal, seen_version=order.version, received={line.id: 2}, problems={line.id: "一盒破损"}
        )
        db.session.commit()
        assert (order.state, line.received, line.receipt_problem) == ("delivered", 2, "一盒破损")


def test_receipt_is_confirmed_automatically_after_the_policy_days(app, drive_order):
    order_id = drive_order("shipped")
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert services.auto_confirm_receipts(now=order.shipped_at + timedelta(days=2)) == 0
        assert services.auto_confirm_receipts(now=order.shipped_at + timedelta(days=14)) == 1
        db.session.commit()
        assert order.state == "delivered"
        last = (
            db.session.query(WorkflowHistory)
            .filter_by(workflow="orders", record_id=order_id)
            .order_by(WorkflowHistory.id)
            .all()[-1]
        )
        assert last.actor_id is None
        assert "自动确认收货" in last.comment


@pytest.mark.parametrize("number", ["123", "2644000000000000000X", "264400000000000000001"])
def test_an_invoice_number_has_20_or_8_digits(app, drive_order, people, number):
    order_id = drive_order("delivered")
    with app.app_context():
        order = db.session.get(Order, order_id)
        with pytest.raises(BusinessError, match="20 位"):
            services.record_invoice(
                order,
                user(people[Role.SERVICE].id),
                seen_version=order.version,
                number=number,
                issued_on=None,
                amount="10",
            )


def test_an_invoice_is_due_after_the_payment_terms(app, drive_order, people):
    order_id = drive_order("delivered")
    with app.app_context():
        order = db.session.get(Order, order_id)
        invoice = services.record_invoice(
            order,
            user(people[Role.SERVICE].id),
            seen_version=order.version,
            number="26440000000000000099",
            issued_on=date(2026, 12, 1),
            amount="87",
        )
        db.session.commit()
        assert (invoice.due_on, invoice.amount, order.state) == (date(2026, 12, 31), Decimal("87.00"), "invoiced")


def test_a_suspended_distributors_open_orders_go_on_hold(app, drive_order, shop, people):
    from crm.distributors.models import Distributor
    from crm.orders.services import run_order_jobs
    from crm.workflow import engine

    submitted, confirmed, picking = drive_order("submitted"), drive_order("confirmed"), drive_order("picking")
    with app.app_context():
        distributor = db.session.get(Distributor, shop.distributor_id)
        engine.apply_event(
            distributor, "suspend", user(people[Role.MANAGER].id), seen_version=distributor.version, comment="窜货"
        )
        db.session.commit()
        assert run_order_jobs() == "0 receipts confirmed automatically, 2 orders held"
        states = [db.session.get(Order, i).state for i in (submitted, confirmed, picking)]
        assert states == ["on_hold", "on_hold", "picking"]  # picking waits on the supply gate instead
        assert db.session.get(Order, submitted).hold_reason == "经销商状态为“已暂停”：其未完成订单暂停处理。"
        assert run_order_jobs() is None
