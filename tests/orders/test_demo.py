"""`make run` shows the order flow: the signed demo distributor's orders in every state, lots, a hold, a queue."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from crm.extensions import db
from crm.orders.models import Order
from tests.helpers import login


def test_the_demo_shows_the_order_flow(app, client):
    from crm.demo import DEMO_PASSWORD, load_demo

    with app.test_request_context():
        load_demo()
        db.session.commit()
        states = dict(db.session.execute(select(Order._state, func.count()).group_by(Order._state)).all())
    assert states == {
        "submitted": 2,  # the returns demo's exchange adds its replacement order (crm/returns/demo.py)
        "confirmed": 1,
        "picking": 1,
        "shipped": 1,
        "delivered": 1,
        "invoiced": 1,
        "closed": 1,
        "on_hold": 1,
    }
    login(client, "13800138032", DEMO_PASSWORD)
    home = client.get("/portal/").get_data(as_text=True)
    assert re.search(r'data-testid="to-receive">1<', home)
    assert "信用额度" in home  # the held order says why
    catalogue = client.get("/portal/catalogue").get_data(as_text=True)
    assert "复方丹参滴丸" in catalogue
    assert "¥28.50" in catalogue

    desk = app.test_client()
    login(desk, "service", DEMO_PASSWORD)
    queue = desk.get("/orders/").get_data(as_text=True)
    for state, count in (("submitted", 2), ("confirmed", 1), ("picking", 1), ("delivered", 1)):
        assert re.search(rf'data-count="{state}">{count}<', queue), state
    lots = desk.get("/orders/lots").get_data(as_text=True)
    assert 'data-lot="DS2606B02"' in lots
    assert 'data-testid="near-expiry"' in lots
