"""The return pages: the portal's form and list, the desk's queue and buttons, scoping to 404."""

from __future__ import annotations

from crm.access.roles import Role
from crm.extensions import db
from crm.returns.models import ReturnRequest
from tests.helpers import UserRef, csrf_token, login
from tests.orders.conftest import user
from tests.returns.conftest import ask


def _ref(app, user_id) -> UserRef:
    with app.app_context():
        found = user(user_id)
        return UserRef(found.id, found.username, found.role)


def test_the_portal_requests_a_return_from_its_shipment(app, client, delivered, shop):
    goods = delivered()
    login(client, _ref(app, shop.portal_user_id))
    order_page = client.get(f"/orders/{goods.order_id}").get_data(as_text=True)
    assert f"/returns/new?shipment_id={goods.shipment_id}" in order_page
    response = client.post(
        f"/returns/new?shipment_id={goods.shipment_id}",
        data={
            "csrf_token": csrf_token(client),
            "kind": "exchange",
            "reason": "damaged",
            f"item-{goods.amox_item}-quantity": "2",
            "description": "外箱压损",
        },
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "外箱压损" in page
    listing = client.get("/returns/").get_data(as_text=True)
    assert 'data-return="RT' in listing


def test_a_refused_request_shows_what_to_correct(app, client, delivered, shop):
    goods = delivered()
    login(client, _ref(app, shop.portal_user_id))
    response = client.post(
        f"/returns/new?shipment_id={goods.shipment_id}",
        data={
            "csrf_token": csrf_token(client),
            "kind": "return",
            "reason": "damaged",
            f"item-{goods.amox_item}-quantity": "9",
        },
    )
    assert response.status_code == 422
    assert "9" in response.get_data(as_text=True)


def test_the_desk_queue_shows_the_request_and_the_desk_approves_it(app, client, delivered, shop, people):
    return_id = ask(app, delivered(), shop.portal_user_id, amox=1)
    login(client, people[Role.SERVICE])
    queue = client.get("/returns/").get_data(as_text=True)
    assert f"/returns/{return_id}" in queue
    with app.app_context():
        version = db.session.get(ReturnRequest, return_id).version
    page = client.get(f"/returns/{return_id}").get_data(as_text=True)
    assert 'data-event="approve"' in page
    client.post(
        f"/returns/{return_id}/events/approve", data={"csrf_token": csrf_token(client), "seen_version": version}
    )
    with app.app_context():
        assert db.session.get(ReturnRequest, return_id).state == "approved"


def test_another_distributors_return_is_a_404(app, client, delivered, shop, make_user, factory, products):
    return_id = ask(app, delivered(), shop.portal_user_id, amox=1)
    other = factory.signed([(products["阿莫西林胶囊"], "440305", False)]).distributor_id
    stranger = make_user(Role.DISTRIBUTOR, company_id=other)
    login(client, stranger)
    assert client.get(f"/returns/{return_id}").status_code == 404
    assert f"/returns/{return_id}" not in client.get("/returns/").get_data(as_text=True)


def test_a_manager_sees_only_returns_of_their_territories(app, client, delivered, shop, make_user):
    return_id = ask(app, delivered(), shop.portal_user_id, amox=1)
    login(client, make_user(Role.MANAGER, territories=["110000"]))
    assert client.get(f"/returns/{return_id}").status_code == 404
    assert f"/returns/{return_id}" not in client.get("/returns/").get_data(as_text=True)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    login(client, make_user(Role.MANAGER, territories=["440000"]))
    assert f"/returns/{return_id}" in client.get("/returns/").get_data(as_text=True)


def test_the_quality_report_counts_returns_by_reason_product_and_lot(app, client, delivered, shop, people):
    for _ in range(3):
        ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)
    login(client, people[Role.MANAGER])
    page = client.get("/returns/quality").get_data(as_text=True)
    assert 'data-lot="AM240101"' in page
    assert 'data-testid="signal"' in page


def test_the_order_desk_queue_counts_the_returns_waiting_on_it(app, client, delivered, shop, people):
    ask(app, delivered(), shop.portal_user_id, amox=1)
    login(client, people[Role.SERVICE])
    assert 'data-count="returns">1<' in client.get("/orders/").get_data(as_text=True)


def test_a_shortage_reported_on_receipt_opens_the_form_pre_filled(app, client, drive_order, shop):
    from crm.orders import services as orders
    from crm.orders.models import Order
    from tests.returns.conftest import shipped

    order_id = drive_order("shipped")
    with app.app_context():
        order = db.session.get(Order, order_id)
        amox = next(line for line in order.lines if not line.product.requires_trace_codes)
        orders.confirm_receipt(
            order,
            user(shop.portal_user_id),
            seen_version=order.version,
            received={amox.id: "1"},
            problems={amox.id: "少两盒"},
        )
        db.session.commit()
    goods = shipped(app, order_id)
    login(client, _ref(app, shop.portal_user_id))
    page = client.get(f"/returns/new?shipment_id={goods.shipment_id}").get_data(as_text=True)
    assert f'name="item-{goods.amox_item}-quantity" type="number" min="0" max="3" inputmode="numeric" value="2"' in page
    assert '<option value="short" selected>' in page
    assert "少两盒" in page


def test_a_manager_sets_the_agreements_return_policy(app, client, shop, people):
    from crm.returns.models import ReturnPolicy

    login(client, people[Role.MANAGER])
    assert client.get(f"/returns/policy/{shop.agreement_id}").status_code == 200
    form = {
        "csrf_token": csrf_token(client),
        "window_days": "30",
        "near_expiry_months": "6",
        "manager_reasons": ["quality", "wrong_item"],
        "quality_threshold": "5",
    }
    assert client.post(f"/returns/policy/{shop.agreement_id}", data=form).status_code == 302
    with app.app_context():
        policy = db.session.get(ReturnPolicy, shop.agreement_id)
        assert (policy.window_days, policy.accepts_near_expiry, policy.near_expiry_months) == (30, False, 6)
        assert policy.reasons_for_managers == {"quality", "wrong_item"}
        version = policy.version
    form["window_days"] = "0"
    form["seen_version"] = str(version)
    assert client.post(f"/returns/policy/{shop.agreement_id}", data=form).status_code == 422
    rep = app.test_client()
    login(rep, people[Role.REP])
    assert rep.get(f"/returns/policy/{shop.agreement_id}").status_code == 403


def test_the_portal_home_says_which_returns_to_send_back(app, client, delivered, shop, people):
    from crm.returns import services

    return_id = ask(app, delivered(), shop.portal_user_id, amox=1)
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        services.approve(record, user(people[Role.SERVICE].id), seen_version=record.version)
        db.session.commit()
    login(client, _ref(app, shop.portal_user_id))
    assert 'data-testid="returns-to-send"' in client.get("/portal/").get_data(as_text=True)
