"""Four-eyes discounts on order lines: asked by the desk or the rep, decided by another manager, all in the history."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.access.roles import Role
from crm.common.errors import BusinessError, Conflict
from crm.extensions import db
from crm.orders import discounts, services
from crm.orders.models import DiscountStatus, Order, OrderDiscount
from crm.workflow.engine import TransitionRefused
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login
from tests.orders.conftest import place, user


def _line(order, name="丹参滴丸"):
    return next(line for line in order.lines if line.product.name == name)


def _ask(order, actor, price="20", reason="区域竞品降价，客户要求", name="丹参滴丸") -> OrderDiscount:
    return discounts.request_discount(
        order, actor, seen_version=order.version, line_id=_line(order, name).id, unit_price=price, reason=reason
    )


def _history(order_id) -> list[WorkflowHistory]:
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "orders", WorkflowHistory.record_id == order_id)
            .order_by(WorkflowHistory.id)
        )
    )


@pytest.fixture
def second_manager(make_user):
    return make_user(Role.MANAGER, territories=["440000"])


def test_a_pending_discount_holds_back_confirming_then_an_approval_reprices_the_line(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        desk, manager = user(people[Role.SERVICE].id), user(people[Role.MANAGER].id)
        assert order.total == Decimal("87.00")  # 2 × 25.50 + 3 × 12.00
        discount = _ask(order, desk)
        db.session.commit()
        with pytest.raises(TransitionRefused) as refused:
            services.confirm(order, desk, seen_version=order.version)
        assert refused.value.message == "该订单有折让申请在等待经理审批：请先审批。"
        db.session.rollback()
        gate = next(g for g in services.gates.report(order, desk) if g.name == "no_pending_discount")
        assert not gate.passed
        discounts.decide(discount, manager, seen_version=discount.version, approve=True, comment="同意，季度促销")
        db.session.commit()
        line = _line(order)
        assert (line.unit_price, line.amount, order.total) == (Decimal("20"), Decimal("40.00"), Decimal("76.00"))
        assert discount.status == DiscountStatus.APPROVED
        assert discount.decided_by_id == manager.id
        notes = [(h.event, h.comment, h.actor_id) for h in _history(order_id) if h.event.startswith("discount_")]
        assert notes == [
            ("discount_requested", "区域竞品降价，客户要求", desk.id),
            ("discount_approved", "同意，季度促销", manager.id),
        ]
        approved = json.loads(_history(order_id)[-1].data)
        assert approved["list_price"] == "25.5000"
        assert approved["unit_price"] == "20.0000"
        assert services.confirm(order, desk, seen_version=order.version) == "confirmed"
        db.session.commit()


def test_a_pending_discount_holds_back_picking(app, shop, lots, people, drive_order):
    order_id = drive_order("confirmed")
    with app.app_context():
        order = db.session.get(Order, order_id)
        desk, manager = user(people[Role.SERVICE].id), user(people[Role.MANAGER].id)
        discount = _ask(order, user(people[Role.REP].id))
        db.session.commit()
        with pytest.raises(TransitionRefused, match="该订单有折让申请在等待经理审批"):
            services.fire(order, "start_picking", desk, seen_version=order.version)
        db.session.rollback()
        discounts.decide(discount, manager, seen_version=discount.version, approve=False, comment="价格已是底价")
        db.session.commit()
        assert _line(order).unit_price == Decimal("25.5000")  # rejected: the price stays
        assert _history(order_id)[-1].event == "discount_rejected"
        services.fire(order, "start_picking", desk, seen_version=order.version)
        db.session.commit()
        assert order.state == "picking"


def test_the_requester_cannot_approve_their_own_request(app, shop, lots, people, second_manager):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        manager = user(people[Role.MANAGER].id)
        discount = _ask(order, manager)
        db.session.commit()
        with pytest.raises(BusinessError) as refused:
            discounts.decide(discount, manager, seen_version=discount.version, approve=True, comment="自己批")
        assert refused.value.message == "这项折让是您申请的：须由另一位经理审批。"
        db.session.rollback()
        assert _line(order).unit_price == Decimal("25.5000")
        discounts.decide(discount, user(second_manager.id), seen_version=discount.version, approve=True, comment="可以")
        db.session.commit()
        assert _line(order).unit_price == Decimal("20")


@pytest.mark.parametrize("role", [Role.SERVICE, Role.REP])
def test_only_a_manager_decides(app, shop, lots, people, role):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        discount = _ask(order, user(people[Role.MANAGER].id))
        db.session.commit()
        with pytest.raises(BusinessError) as refused:
            discounts.decide(discount, user(people[role].id), seen_version=discount.version, approve=True, comment="批")
        assert refused.value.message == "只有经理可以审批折让。"
        discount_id = discount.id
    client = app.test_client()
    login(client, people[role])
    response = client.post(
        f"/orders/discounts/{discount_id}/decide",
        data={"csrf_token": csrf_token(client), "seen_version": "1", "decision": "approve", "comment": "批"},
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(OrderDiscount, discount_id).status == DiscountStatus.PENDING


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("0", "请填写新的单价（元），须大于零。"),
        ("-5", "请填写新的单价（元），须大于零。"),
        ("便宜点", "请填写新的单价（元），须大于零。"),
        ("25.5", "折让后的单价须低于协议价 ¥25.5。"),
        ("30", "折让后的单价须低于协议价 ¥25.5。"),
        ("20.00001", "单价最多保留四位小数。"),
    ],
)
def test_the_price_must_be_above_zero_and_below_the_agreement_price(app, shop, lots, people, price, message):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        with pytest.raises(BusinessError) as refused:
            _ask(order, user(people[Role.SERVICE].id), price=price)
        assert refused.value.message == message
        db.session.rollback()
        assert db.session.scalars(select(OrderDiscount)).all() == []


def test_a_reason_is_required_and_one_request_per_line_waits(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        desk = user(people[Role.SERVICE].id)
        with pytest.raises(BusinessError, match="请说明折让的理由。"):
            _ask(order, desk, reason="  ")
        db.session.rollback()
        discount = _ask(order, desk)
        db.session.commit()
        with pytest.raises(BusinessError, match="丹参滴丸已有一项折让申请在等待经理审批。"):
            _ask(order, desk, price="19")
        db.session.rollback()
        _ask(order, desk, price="10", name="阿莫西林胶囊")  # another line may have its own
        db.session.commit()
        with pytest.raises(BusinessError, match="请说明批准或驳回的理由。"):
            discounts.decide(
                discount, user(people[Role.MANAGER].id), seen_version=discount.version, approve=True, comment=""
            )


def test_a_second_discount_is_measured_against_the_agreement_price(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        desk, manager = user(people[Role.SERVICE].id), user(people[Role.MANAGER].id)
        first = _ask(order, desk, price="20")
        discounts.decide(first, manager, seen_version=first.version, approve=True, comment="同意")
        db.session.commit()
        with pytest.raises(BusinessError, match=re.escape("折让后的单价须低于协议价 ¥25.5。")):
            _ask(order, desk, price="26")
        db.session.rollback()
        second = _ask(order, desk, price="22")  # above the discounted 20, still below the agreement's 25.50
        assert second.list_price == Decimal("25.5000")


@pytest.mark.parametrize("state", ["picking", "shipped", "delivered", "cancelled"])
def test_no_discount_once_picking_has_started_or_the_order_is_final(app, shop, lots, people, drive_order, state):
    order_id = drive_order(state)
    with app.app_context():
        order = db.session.get(Order, order_id)
        with pytest.raises(BusinessError) as refused:
            _ask(order, user(people[Role.SERVICE].id))
        label = order.state_def.label
        assert refused.value.message == f"订单已是“{label}”状态：只有在开始拣货之前才能调整价格。"


def test_an_approval_after_the_order_was_cancelled_is_refused(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        desk, manager = user(people[Role.SERVICE].id), user(people[Role.MANAGER].id)
        discount = _ask(order, desk)
        services.fire(order, "cancel", desk, seen_version=order.version, comment="客户取消")
        db.session.commit()
        with pytest.raises(BusinessError, match="订单已是“已取消”状态，价格不能再调整。"):
            discounts.decide(discount, manager, seen_version=discount.version, approve=True, comment="同意")


def test_a_stale_decision_answers_409(app, shop, lots, people, second_manager):
    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        discount = _ask(order, user(people[Role.SERVICE].id))
        db.session.commit()
        discount_id, seen = discount.id, discount.version
    first, second = app.test_client(), app.test_client()
    login(first, people[Role.MANAGER])
    login(second, second_manager)
    page = second.get(f"/orders/{order_id}").get_data(as_text=True)  # the second manager has the form open
    assert f'action="/orders/discounts/{discount_id}/decide"' in page
    form = {"seen_version": str(seen), "decision": "approve", "comment": "同意"}
    response = first.post(f"/orders/discounts/{discount_id}/decide", data={**form, "csrf_token": csrf_token(first)})
    assert response.status_code == 302
    response = second.post(
        f"/orders/discounts/{discount_id}/decide",
        data={**form, "decision": "reject", "csrf_token": csrf_token(second)},
    )
    assert response.status_code == 409
    with app.app_context():
        assert db.session.get(OrderDiscount, discount_id).status == DiscountStatus.APPROVED
        assert [h.event for h in _history(order_id)].count("discount_approved") == 1
        assert "discount_rejected" not in [h.event for h in _history(order_id)]
        with pytest.raises(Conflict):  # the service says the same to a caller holding the old version
            discounts.decide(
                db.session.get(OrderDiscount, discount_id),
                user(second_manager.id),
                seen_version=seen,
                approve=False,
                comment="不同意",
            )


def test_over_http_the_rep_asks_and_the_portal_sees_only_the_final_price(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        line_id = _line(db.session.get(Order, order_id)).id
        version = db.session.get(Order, order_id).version
    rep = app.test_client()
    login(rep, people[Role.REP])
    page = rep.get(f"/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="discount-form"' in page
    response = rep.post(
        f"/orders/{order_id}/lines/{line_id}/discount",
        data={
            "csrf_token": csrf_token(rep),
            "seen_version": version,
            "unit_price": "21.5",
            "reason": "内部理由：竞品压价",
        },
    )
    assert response.status_code == 302
    manager = app.test_client()
    login(manager, people[Role.MANAGER])
    listing = manager.get("/orders/discounts").get_data(as_text=True)
    assert "内部理由：竞品压价" in listing
    assert "¥21.50" in listing
    with app.app_context():
        discount = db.session.scalars(select(OrderDiscount)).one()
    response = manager.post(
        f"/orders/discounts/{discount.id}/decide",
        data={
            "csrf_token": csrf_token(manager),
            "seen_version": discount.version,
            "decision": "approve",
            "comment": "批准意见：仅限本单",
        },
    )
    assert response.status_code == 302
    staff_page = manager.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "批准意见：仅限本单" in staff_page
    assert "折让已批准" in staff_page
    portal = app.test_client()
    login(portal, user_ref(app, shop.portal_user_id))
    page = portal.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "¥21.50" in page  # the final price, and the total that follows from it
    assert "¥79.00" in page
    for internal in ("内部理由", "批准意见", "折让", "¥25.50"):
        assert internal not in page


def test_the_rep_cannot_ask_on_an_order_out_of_reach(app, shop, lots, people, make_user):
    order_id = place(app, shop)
    with app.app_context():
        line_id = _line(db.session.get(Order, order_id)).id
        version = db.session.get(Order, order_id).version
    outsider = app.test_client()
    login(outsider, make_user(Role.REP, territories=["110000"]))
    response = outsider.post(
        f"/orders/{order_id}/lines/{line_id}/discount",
        data={"csrf_token": csrf_token(outsider), "seen_version": version, "unit_price": "20", "reason": "试试"},
    )
    assert response.status_code == 404
    distributor = app.test_client()
    login(distributor, user_ref(app, shop.portal_user_id))
    response = distributor.post(
        f"/orders/{order_id}/lines/{line_id}/discount",
        data={"csrf_token": csrf_token(distributor), "seen_version": version, "unit_price": "20", "reason": "便宜点"},
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalars(select(OrderDiscount)).all() == []


def user_ref(app, user_id):
    """The portal user of the shop as a login reference (created by the fixture with the default password)."""
    from tests.helpers import UserRef

    with app.app_context():
        found = user(user_id)
        return UserRef(found.id, found.username, found.role)


def test_a_line_of_another_order_is_404(app, shop, lots, people):
    first, second = place(app, shop), place(app, shop)
    with app.app_context():
        other_line = db.session.get(Order, second).lines[0].id
        version = db.session.get(Order, first).version
    desk = app.test_client()
    login(desk, people[Role.SERVICE])
    response = desk.post(
        f"/orders/{first}/lines/{other_line}/discount",
        data={"csrf_token": csrf_token(desk), "seen_version": version, "unit_price": "20", "reason": "错行"},
    )
    assert response.status_code == 404


def test_the_decide_form_shows_why_a_manager_cannot_decide(app, shop, lots, people):
    order_id = place(app, shop)
    with app.app_context():
        _ask(db.session.get(Order, order_id), user(people[Role.MANAGER].id))
        db.session.commit()
    client = app.test_client()
    login(client, people[Role.MANAGER])
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "这项折让是您申请的：须由另一位经理审批。" in page
    assert 'data-action="approve-discount"' not in page
    assert re.search(r'data-gate="no_pending_discount" data-passed="no"', page)


def test_two_managers_deciding_at_once_one_wins_the_other_hears_409(app, shop, lots, people, second_manager):
    """Each in its own thread and session, released together (as in tests/orders/test_races.py)."""
    from tests.orders.test_races import _race

    order_id = place(app, shop)
    with app.app_context():
        order = db.session.get(Order, order_id)
        discount = _ask(order, user(people[Role.SERVICE].id))
        db.session.commit()
        discount_id, seen = discount.id, discount.version
    deciders = [people[Role.MANAGER].id, second_manager.id]

    def decide(i):
        try:
            discounts.decide(
                db.session.get(OrderDiscount, discount_id),
                user(deciders[i]),
                seen_version=seen,
                approve=i == 0,
                comment="同意" if i == 0 else "不同意",
            )
            db.session.flush()
        except Conflict:
            return "409"
        return "decided"

    assert _race(app, 2, decide) == ["409", "decided"]
    with app.app_context():
        events = [h.event for h in _history(order_id) if h.event.startswith("discount_")]
        assert events.count("discount_requested") == 1
        assert len(events) == 2  # exactly one decision in the history
        decided = db.session.get(OrderDiscount, discount_id)
        price = _line(db.session.get(Order, order_id)).unit_price
        assert (decided.status == DiscountStatus.APPROVED) == (price == Decimal("20"))


def test_the_managers_list_shows_requests_in_reach_on_open_orders_only(app, shop, lots, people, make_user):
    kept, cancelled = place(app, shop), place(app, shop)
    with app.app_context():
        desk = user(people[Role.SERVICE].id)
        for order_id in (kept, cancelled):
            _ask(db.session.get(Order, order_id), desk, reason=f"理由{order_id}")
        order = db.session.get(Order, cancelled)
        services.fire(order, "cancel", desk, seen_version=order.version, comment="客户取消")
        db.session.commit()
        numbers = {order_id: db.session.get(Order, order_id).number for order_id in (kept, cancelled)}
    manager = app.test_client()
    login(manager, people[Role.MANAGER])
    listing = manager.get("/orders/discounts").get_data(as_text=True)
    assert numbers[kept] in listing
    assert numbers[cancelled] not in listing
    assert 'data-testid="discounts"' not in manager.get(f"/orders/{cancelled}").get_data(as_text=True)
    elsewhere = app.test_client()
    login(elsewhere, make_user(Role.MANAGER, territories=["330000"]))
    assert numbers[kept] not in elsewhere.get("/orders/discounts").get_data(as_text=True)
