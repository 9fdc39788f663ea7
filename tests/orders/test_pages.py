"""The order pages over HTTP, as the portal user, the order desk, a manager and a rep would use them."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from openpyxl import load_workbook

from crm.access.roles import Role
from crm.extensions import db
from crm.orders.models import Lot, Order, Payment
from tests.helpers import gen_distributor, login, post
from tests.orders.conftest import fresh_codes, place


def _version(app, order_id) -> int:
    with app.app_context():
        return db.session.get(Order, order_id).version


def test_the_whole_flow_over_http(app, client, shop, lots, people, make_user):
    login(client, make_user(Role.DISTRIBUTOR, company_id=shop.distributor_id))
    page = client.get("/portal/catalogue").get_data(as_text=True)
    assert "丹参滴丸" in page
    assert "¥25.50" in page
    response = post(
        client,
        "/portal/catalogue",
        {
            f"quantity-{shop.dan}": "2",
            f"quantity-{shop.amox}": "",
            "ship_to_code": "440305",
            "ship_to_address": "科技园路1号",
            "receiver_name": "王收货",
            "receiver_phone": "138 0013 8000",
        },
    )
    assert response.status_code == 302
    order_id = int(re.search(r"/orders/(\d+)", response.headers["Location"]).group(1))

    desk = app.test_client()
    login(desk, people[Role.SERVICE])
    queue = desk.get("/orders/").get_data(as_text=True)
    assert 'data-count="submitted">1<' in queue
    assert post(desk, f"/orders/{order_id}/confirm", {"seen_version": _version(app, order_id)}).status_code == 302
    assert (
        post(desk, f"/orders/{order_id}/events/start_picking", {"seen_version": _version(app, order_id)}).status_code
        == 302
    )
    with app.app_context():
        line_id = db.session.get(Order, order_id).lines[0].id
    codes = fresh_codes(2)
    response = post(
        desk,
        f"/orders/{order_id}/ship",
        {
            "seen_version": _version(app, order_id),
            "carrier": "顺丰",
            "waybill": "SF9000",
            f"line-{line_id}-0-lot": lots["dan"],
            f"line-{line_id}-0-quantity": "2",
            f"line-{line_id}-0-codes": "\n".join(codes),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.state == "shipped"
        shipment_id = order.shipments[0].id
    note = client.get(f"/orders/shipments/{shipment_id}/note").get_data(as_text=True)
    assert "随货同行单" in note
    assert "DS240101" in note
    assert "有效期至" in note
    pdf = client.get(f"/orders/shipments/{shipment_id}/note.pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF")

    assert post(client, f"/orders/{order_id}/receipt", {"seen_version": _version(app, order_id)}).status_code == 302
    assert (
        post(
            desk,
            f"/orders/{order_id}/invoice",
            {"seen_version": _version(app, order_id), "number": "2644 0000 0000 0000 0042", "amount": "51.00"},
        ).status_code
        == 302
    )
    assert (
        post(
            desk,
            f"/orders/statement/{shop.distributor_id}/payments",
            {"amount": "20", "method": "transfer", "reference": "网银"},
        ).status_code
        == 302
    )
    statement = client.get(f"/orders/statement/{shop.distributor_id}").get_data(as_text=True)
    assert re.search(r'data-testid="balance">¥31\.00<', statement)
    book = load_workbook(io.BytesIO(client.get(f"/orders/statement/{shop.distributor_id}.xlsx").data))
    assert book["发票"]["A2"].value == "26440000000000000042"
    assert book["对账单"]["B2"].value == 31.0


def test_a_distributor_sees_only_its_own_orders(app, client, shop, make_user):
    order_id = place(app, shop)
    other = gen_distributor(app, "440305", name="别家医药")
    login(client, make_user(Role.DISTRIBUTOR, company_id=other))
    assert client.get(f"/orders/{order_id}").status_code == 404
    assert shop_number(app, order_id) not in client.get("/orders/").get_data(as_text=True)
    assert client.get(f"/orders/statement/{shop.distributor_id}").status_code == 404
    response = post(client, f"/orders/{order_id}/receipt", {"seen_version": _version(app, order_id)})
    assert response.status_code == 404


def shop_number(app, order_id) -> str:
    with app.app_context():
        return db.session.get(Order, order_id).number


def test_a_rep_sees_only_orders_shipped_into_their_territories(app, client, shop, make_user):
    order_id = place(app, shop)
    login(client, make_user(Role.REP, territories=["110000"]))
    assert client.get(f"/orders/{order_id}").status_code == 404
    assert shop_number(app, order_id) not in client.get("/orders/").get_data(as_text=True)
    other = app.test_client()
    login(other, make_user(Role.REP, territories=["440300"]))
    assert client.get("/orders/trace?code=1").status_code == 200
    assert other.get(f"/orders/{order_id}").status_code == 200


def test_a_refused_shipment_lists_each_bad_code_and_keeps_the_stock(app, client, drive_order, lots, people):
    order_id = drive_order("picking")
    login(client, people[Role.SERVICE])
    with app.app_context():
        line_id = db.session.get(Order, order_id).lines[0].id
    response = post(
        client,
        f"/orders/{order_id}/ship",
        {
            "seen_version": _version(app, order_id),
            "carrier": "顺丰",
            "waybill": "SF1",
            f"line-{line_id}-0-lot": lots["dan"],
            f"line-{line_id}-0-quantity": "2",
            f"line-{line_id}-0-codes": "123\n<script>x</script>",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "第 1 行：“123”不是 20 位追溯码。" in page
    assert "<script>x</script>" not in page
    with app.app_context():
        assert db.session.get(Lot, lots["dan"]).quantity_left == 1000


def test_a_stale_confirm_answers_409(app, client, shop, people):
    order_id = place(app, shop)
    login(client, people[Role.SERVICE])
    assert post(client, f"/orders/{order_id}/confirm", {"seen_version": 0}).status_code == 409
    with app.app_context():
        assert db.session.get(Order, order_id).state == "submitted"


def test_a_bad_payment_changes_nothing(app, client, shop, people):
    login(client, people[Role.SERVICE])
    for amount in ("abc", "-5", "0", "1e20", "NaN"):
        response = post(
            client, f"/orders/statement/{shop.distributor_id}/payments", {"amount": amount, "method": "transfer"}
        )
        assert response.status_code == 302
    with app.app_context():
        assert db.session.query(Payment).count() == 0


def test_credit_terms_are_set_by_a_manager(app, client, shop, people):
    login(client, people[Role.MANAGER])
    page = client.get(f"/orders/statement/{shop.distributor_id}").get_data(as_text=True)
    version = re.search(r'name="seen_version" value="(\d+)"', page).group(1)
    post(
        client,
        f"/orders/statement/{shop.distributor_id}/credit",
        {"seen_version": version, "credit_limit": "50,000", "payment_days": "45"},
    )
    with app.app_context():
        from crm.orders.models import Credit

        credit = db.session.get(Credit, shop.distributor_id)
        assert (credit.credit_limit, credit.payment_days) == (Decimal("50000.00"), 45)


def test_the_lot_page_answers_who_received_it(app, client, drive_order, lots, people):
    drive_order("shipped")
    login(client, people[Role.MANAGER])
    page = client.get(f"/orders/lots/{lots['dan']}").get_data(as_text=True)
    assert "深圳测试医药" in page
    assert 'data-testid="left">998 / 1000' in page


def test_a_manager_agrees_the_price_per_grant_and_orders_placed_keep_theirs(app, client, shop, people):
    from crm.distributors.models import Agreement, AgreementLine

    before = place(app, shop, dan=1, amox=0)
    login(client, people[Role.MANAGER])
    with app.app_context():
        line_id = (
            db.session.query(AgreementLine).filter_by(agreement_id=shop.agreement_id, product_id=shop.dan).one().id
        )
    for bad in ("abc", "-1", "0", "NaN"):
        version = _agreement_version(app, shop.agreement_id)
        post(
            client,
            f"/distributors/agreements/{shop.agreement_id}/lines/{line_id}/price",
            {"seen_version": version, "unit_price": bad},
        )
    with app.app_context():
        assert db.session.get(AgreementLine, line_id).unit_price == Decimal("25.5000")
    post(
        client,
        f"/distributors/agreements/{shop.agreement_id}/lines/{line_id}/price",
        {"seen_version": _agreement_version(app, shop.agreement_id), "unit_price": "¥27.80"},
    )
    after = place(app, shop, dan=1, amox=0)
    with app.app_context():
        assert db.session.get(Order, before).total == Decimal("25.50")
        assert db.session.get(Order, after).total == Decimal("27.80")
        assert db.session.get(Agreement, shop.agreement_id).status.value == "signed"


def _agreement_version(app, agreement_id) -> int:
    from crm.distributors.models import Agreement

    with app.app_context():
        return db.session.get(Agreement, agreement_id).version
