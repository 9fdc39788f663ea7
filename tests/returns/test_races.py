"""Races on both databases: two requests for an item's last units, one trace code in two returns.

Each contender runs in its own thread with its own session, released together by
a barrier, as two gunicorn workers would (the helper of tests/orders/test_races.py).
"""

from __future__ import annotations

from sqlalchemy import func, select

from crm.extensions import db
from crm.returns import services
from crm.returns.models import ReturnedCode, ReturnRequest
from tests.orders.conftest import user
from tests.orders.test_races import _race
from tests.returns.conftest import claimed


def test_two_requests_for_the_last_units_one_is_refused(app, delivered, shop):
    goods = delivered()  # 3 × 阿莫西林 shipped

    def request(_i):
        services.request_return(
            user(shop.portal_user_id),
            shipment_id=goods.shipment_id,
            kind="return",
            reason="damaged",
            lines=[services.WantedReturn(goods.amox_item, 2)],
        )
        return "requested"

    assert _race(app, 2, request) == ["ReturnRefused", "requested"]
    assert claimed(app, goods.amox_item) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReturnRequest)) == 1


def test_one_trace_code_in_two_requests_at_once_one_is_refused(app, delivered, shop):
    goods = delivered()

    def request(_i):
        services.request_return(
            user(shop.portal_user_id),
            shipment_id=goods.shipment_id,
            kind="return",
            reason="damaged",
            lines=[services.WantedReturn(goods.dan_item, 1, goods.dan_codes[0])],
        )
        return "requested"

    assert _race(app, 2, request) == ["ReturnRefused", "requested"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReturnedCode)) == 1
    assert claimed(app, goods.dan_item) == 1
