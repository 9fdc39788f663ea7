"""Each gate of ordering, confirming, releasing and shipping refuses with the message a user reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.access.roles import Role
from crm.common.errors import BusinessError
from crm.common.time import local_today
from crm.distributors.models import Agreement, Distributor, DocumentKind, QualificationDocument
from crm.extensions import db
from crm.orders import services
from crm.orders.models import Credit, Invoice, Order
from crm.workflow import engine
from tests.orders.conftest import place, user


def _confirm(app, order_id, actor_id) -> tuple[str, str]:
    """(state after, message) of the desk confirming the order."""
    with app.app_context():
        order = db.session.get(Order, order_id)
        try:
            services.confirm(order, user(actor_id), seen_version=order.version)
            db.session.commit()
            return order.state, ""
        except BusinessError as refused:
            db.session.rollback()
            return db.session.get(Order, order_id).state, refused.message


def test_a_suspended_distributor_is_not_confirmed(app, shop, people):
    order_id = place(app, shop)
    with app.app_context():
        distributor = db.session.get(Distributor, shop.distributor_id)
        engine.apply_event(
            distributor, "suspend", user(people[Role.MANAGER].id), seen_version=distributor.version, comment="欠款"
        )
        db.session.commit()
    assert _confirm(app, order_id, people[Role.SERVICE].id) == (
        "submitted",
        "经销商不在正常合作状态，不能供货。",
    )


@pytest.mark.parametrize("kind", [DocumentKind.GSP_CERTIFICATE, DocumentKind.DRUG_TRADING_LICENCE])
def test_an_expired_licence_stops_confirmation(app, shop, people, kind):
    order_id = place(app, shop)
    with app.app_context():
        for document in db.session.query(QualificationDocument).filter_by(
            distributor_id=shop.distributor_id, kind=kind
        ):
            document.expires_on = local_today() - timedelta(days=1)
        db.session.commit()
    state, message = _confirm(app, order_id, people[Role.SERVICE].id)
    assert state == "submitted"
    assert "GSP 证书须已上传且今日有效" in message


def test_an_ended_agreement_stops_confirmation(app, shop, people):
    order_id = place(app, shop)
    with app.app_context():
        db.session.get(Agreement, shop.agreement_id).ends_on = local_today() - timedelta(days=1)
        db.session.commit()
    assert _confirm(app, order_id, people[Role.SERVICE].id) == (
        "submitted",
        "该经销商今日没有生效中的协议。",
    )


def test_goods_cannot_be_ordered_into_a_county_outside_the_grant(app, shop):
    # 丹参滴丸 is granted in 南山区 only; 福田区 (440304) is another distributor's to sell in.
    with pytest.raises(BusinessError, match="不在您该品种的授权区域内"):
        place(app, shop, dan=2, amox=0, ship_to="440304")
    with app.app_context():
        assert db.session.query(Order).count() == 0
    # 阿莫西林 is granted in all of 深圳: 福田区 is fine for it.
    assert place(app, shop, dan=0, amox=2, ship_to="440304")


def test_a_ship_to_moved_outside_the_grant_is_not_confirmed(app, shop, people):
    order_id = place(app, shop)
    with app.app_context():
        db.session.get(Order, order_id).ship_to_code = "440304"
        db.session.commit()
    state, message = _confirm(app, order_id, people[Role.SERVICE].id)
    assert state == "submitted"
    assert message == "收货区县不在所订某品种的协议授权区域内。"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("dan", "abc")], "数量应为 1 到 1,000,000 之间的整数"),
        ([("dan", "-3")], "数量应为 1 到 1,000,000 之间的整数"),
        ([("dan", "2000000")], "数量应为 1 到 1,000,000 之间的整数"),
        ([("other", "1")], "不在您的经销协议内"),
        ([], "请至少订购一个品种。"),
        ([("dan", "1"), ("dan", "2")], "重复下单"),
    ],
)
def test_bad_order_lines_are_refused_and_nothing_is_written(app, shop, lines, message):
    with app.app_context():
        ids = {"dan": shop.dan, "other": 999999}
        with pytest.raises(BusinessError, match=message):
            services.place_order(
                user(shop.portal_user_id),
                ship_to_code="440305",
                ship_to_address="深圳",
                receiver_name="王",
                lines=[services.WantedLine(ids[p], q) for p, q in lines],
            )
        db.session.rollback()
        assert db.session.query(Order).count() == 0


def test_the_price_is_the_agreements_not_the_users(app, shop):
    order_id = place(app, shop, dan=4, amox=0)
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert [(line.unit_price, line.amount) for line in order.lines] == [(Decimal("25.5000"), Decimal("102.00"))]
        assert order.total == Decimal("102.00")


def test_over_the_credit_limit_goes_on_hold_and_another_manager_releases(app, shop, people, make_user):
    with app.app_context():
        db.session.get(Credit, shop.distributor_id).credit_limit = Decimal("100")
        db.session.commit()
    order_id = place(app, shop, dan=2, amox=3)  # ¥87: within the limit
    assert _confirm(app, order_id, people[Role.SERVICE].id) == ("confirmed", "")
    second = place(app, shop, dan=1, amox=0)  # ¥25.50 more: ¥112.50 over ¥100
    assert _confirm(app, second, people[Role.SERVICE].id)[0] == "on_hold"
    with app.app_context():
        order = db.session.get(Order, second)
        assert "将超过信用额度 ¥100.00" in order.hold_reason
        manager = user(people[Role.MANAGER].id)
        services.ask_release(order, manager, seen_version=order.version, comment="老客户，月底回款")
        db.session.commit()
        with pytest.raises(engine.TransitionRefused, match="都不能放行"):
            services.release(order, manager, seen_version=order.version, comment="同意")
        db.session.rollback()
        other = user(make_user(Role.MANAGER, territories=["440300"]).id)
        services.release(order, other, seen_version=order.version, comment="同意放行")
        db.session.commit()
        assert order.state == "confirmed"


def test_a_copy_of_an_order_does_not_get_round_the_limit(app, shop, people):
    with app.app_context():
        db.session.get(Credit, shop.distributor_id).credit_limit = Decimal("150")
        db.session.commit()
    first, copy = place(app, shop), place(app, shop)  # ¥87 each: each alone is within ¥150
    assert _confirm(app, first, people[Role.SERVICE].id)[0] == "confirmed"
    assert _confirm(app, copy, people[Role.SERVICE].id)[0] == "on_hold"


def test_an_overdue_invoice_holds_new_orders(app, shop, people):
    old = place(app, shop)
    with app.app_context():
        db.session.add(
            Invoice(
                order_id=old,
                distributor_id=shop.distributor_id,
                number="26440000000000000001",
                issued_on=local_today() - timedelta(days=60),
                due_on=local_today() - timedelta(days=30),
                amount=Decimal("10"),
            )
        )
        db.session.commit()
    order_id = place(app, shop)
    state = _confirm(app, order_id, people[Role.SERVICE].id)[0]
    assert state == "on_hold"
    with app.app_context():
        assert db.session.get(Order, order_id).hold_reason == "有 ¥10.00 的发票已逾期。"


def test_no_credit_limit_means_every_order_waits_for_a_manager(app, shop, people):
    with app.app_context():
        db.session.get(Credit, shop.distributor_id).credit_limit = None
        db.session.commit()
    order_id = place(app, shop)
    assert _confirm(app, order_id, people[Role.SERVICE].id)[0] == "on_hold"
    with app.app_context():
        assert db.session.get(Order, order_id).hold_reason == "该经销商尚未设定信用额度。"
