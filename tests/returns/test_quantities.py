"""What may be returned: never more than shipped less returned or requested, only lots and codes shipped to you."""

from __future__ import annotations

import pytest

from crm.access.roles import Role
from crm.common.errors import BusinessError
from crm.extensions import db
from crm.returns import services
from crm.returns.models import ReturnRequest
from tests.orders.conftest import user
from tests.returns.conftest import ask, claimed


def _refused(app, goods, actor_id, **kwargs) -> str:
    with pytest.raises(BusinessError) as refused:
        ask(app, goods, actor_id, **kwargs)
    return " ".join([refused.value.message, *getattr(refused.value, "problems", [])])


def test_a_quantity_above_shipped_less_requested_is_refused_per_lot(app, delivered, shop):
    goods = delivered()
    assert "3" in _refused(app, goods, shop.portal_user_id, amox=4)  # 3 shipped
    ask(app, goods, shop.portal_user_id, amox=2)
    message = _refused(app, goods, shop.portal_user_id, amox=2)  # 1 left: the open request counts
    assert "1" in message
    ask(app, goods, shop.portal_user_id, amox=1)
    assert claimed(app, goods.amox_item) == 3


def test_returned_units_count_after_the_request_is_done(app, drive_return, shop):
    return_id = drive_return("closed")
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        item_id = next(line.shipment_item_id for line in record.lines if not line.codes)
        shipment_id = record.shipment_id
    assert claimed(app, item_id) == 2  # 2 of 3 returned for good
    with app.app_context(), pytest.raises(BusinessError):
        services.request_return(
            user(shop.portal_user_id),
            shipment_id=shipment_id,
            kind="return",
            reason="damaged",
            lines=[services.WantedReturn(item_id, 2)],
        )


def test_a_lot_of_another_distributors_shipment_is_refused_even_in_a_crafted_post(
    app, client, delivered, shop, people, make_user, factory, products
):
    from tests.helpers import UserRef, login

    ours = delivered()
    # Another distributor's delivered order of the same products and lots.
    other_portal = make_user(Role.DISTRIBUTOR, company_id=_second_shop(app, factory, products, people))
    login(client, UserRef(other_portal.id, other_portal.username, Role.DISTRIBUTOR))
    # Its own shipment in the URL, our shipment's item in the form: refused, nothing recorded.
    response = client.post(
        f"/returns/new?shipment_id={ours.shipment_id}",
        data={
            "csrf_token": _csrf(client),
            "kind": "return",
            "reason": "damaged",
            f"item-{ours.amox_item}-quantity": "1",
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.query(ReturnRequest).count() == 0
    assert claimed(app, ours.amox_item) == 0


def _second_shop(app, factory, products, people) -> int:
    return factory.signed([(products["阿莫西林胶囊"], "440305", False)]).distributor_id


def _csrf(client):
    from tests.helpers import csrf_token

    return csrf_token(client)


def test_an_item_of_another_shipment_in_the_form_is_refused(app, client, delivered, shop):
    from tests.helpers import UserRef, login

    first, second = delivered(), delivered()
    with app.app_context():
        portal = user(shop.portal_user_id)
        ref = UserRef(portal.id, portal.username, portal.role)
    login(client, ref)
    # The first shipment's page, with a line naming the second shipment's item: refused as a whole.
    response = client.post(
        f"/returns/new?shipment_id={first.shipment_id}",
        data={
            "csrf_token": _csrf(client),
            "kind": "return",
            "reason": "damaged",
            f"item-{first.amox_item}-quantity": "1",
            f"item-{second.amox_item}-quantity": "1",
        },
    )
    assert response.status_code == 422
    assert claimed(app, first.amox_item) == claimed(app, second.amox_item) == 0
    # The picker offers only the shipment's own lots.
    page = client.get(f"/returns/new?shipment_id={first.shipment_id}").get_data(as_text=True)
    assert f'data-item="{first.amox_item}"' in page
    assert f'data-item="{second.amox_item}"' not in page


def test_a_trace_code_not_shipped_to_this_distributor_is_refused(app, delivered, shop):
    from tests.orders.conftest import fresh_codes

    first, second = delivered(), delivered()
    never_shipped = fresh_codes(1)
    assert never_shipped[0] in _refused(app, first, shop.portal_user_id, dan=1, codes=never_shipped)
    # A code shipped to us, but in another shipment, is not a code of this shipment's lot.
    with pytest.raises(BusinessError):
        ask(app, first, shop.portal_user_id, dan=1, codes=[second.dan_codes[0]])
    # Codes are required, one per unit, for a product that uses them.
    with pytest.raises(BusinessError):
        ask(app, first, shop.portal_user_id, dan=1, codes=[""])


def test_a_trace_code_already_in_a_return_is_refused(app, delivered, shop):
    goods = delivered()
    ask(app, goods, shop.portal_user_id, dan=1, codes=[goods.dan_codes[0]])
    with pytest.raises(BusinessError):
        ask(app, goods, shop.portal_user_id, dan=1, codes=[goods.dan_codes[0]])
    ask(app, goods, shop.portal_user_id, dan=1, codes=[goods.dan_codes[1]])


def test_goods_not_yet_delivered_cannot_be_returned(app, drive_order, shop):
    from tests.returns.conftest import shipped

    goods = shipped(app, drive_order("shipped"))
    with pytest.raises(BusinessError):
        ask(app, goods, shop.portal_user_id, amox=1)


def test_the_return_window_and_near_expiry_rules_of_the_policy(app, delivered, shop):
    from crm.returns.models import ReturnPolicy

    goods = delivered()
    with app.app_context():
        db.session.add(ReturnPolicy(agreement_id=shop.agreement_id, accepts_near_expiry=False))
        db.session.commit()
    with pytest.raises(BusinessError):
        ask(app, goods, shop.portal_user_id, reason="near_expiry", amox=1)
    with app.app_context():
        policy = db.session.get(ReturnPolicy, shop.agreement_id)
        policy.accepts_near_expiry = True
        db.session.commit()
    # The lots expire in two years: not near expiry within the default 3 months.
    with pytest.raises(BusinessError):
        ask(app, goods, shop.portal_user_id, reason="near_expiry", amox=1)


def test_a_shipment_out_of_reach_is_refused(app, delivered, people, make_user):
    goods = delivered()
    stranger = make_user(Role.DISTRIBUTOR, company_id=None)
    with pytest.raises(BusinessError):
        ask(app, goods, stranger.id, amox=1)
    with pytest.raises(BusinessError):
        ask(app, goods, people[Role.MANAGER].id, amox=1)  # managers decide returns, they do not request them
