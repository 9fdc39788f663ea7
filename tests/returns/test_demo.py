"""`make run` shows returns: requested, in transit, inspected, a refund on the statement, an exchange replaced."""

from __future__ import annotations

from sqlalchemy import func, select

from crm.extensions import db
from crm.returns.models import ReturnKind, ReturnRequest
from tests.helpers import login


def test_the_demo_shows_the_return_flow(app, client):
    from crm.demo import DEMO_PASSWORD, load_demo

    with app.test_request_context():
        load_demo()
        db.session.commit()
        states = dict(
            db.session.execute(select(ReturnRequest._state, func.count()).group_by(ReturnRequest._state)).all()
        )
        exchange = db.session.scalar(select(ReturnRequest).where(ReturnRequest.kind == ReturnKind.EXCHANGE))
        replacement_id = exchange.replacement_order_id
        refunded = db.session.scalar(select(ReturnRequest).where(ReturnRequest._state == "refunded"))
        note_number, distributor_id = refunded.credit_note.number, refunded.distributor_id
    assert states == {"requested": 1, "in_transit": 1, "inspected": 1, "refunded": 1, "replaced": 1}
    login(client, "13800138032", DEMO_PASSWORD)
    assert client.get("/returns/").status_code == 200
    assert client.get(f"/orders/{replacement_id}").status_code == 200
    assert note_number in client.get(f"/orders/statement/{distributor_id}").get_data(as_text=True)
    desk = app.test_client()
    login(desk, "service", DEMO_PASSWORD)
    assert 'data-count="requested">1<' in desk.get("/returns/").get_data(as_text=True)
