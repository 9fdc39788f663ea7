"""A return from request to credit note, and an exchange to its replacement order, through the services."""

from __future__ import annotations

from decimal import Decimal

from crm.access.roles import Role
from crm.extensions import db
from crm.orders.models import Lot, Order, ShippedCode
from crm.orders.statement import statement_of
from crm.returns.models import ReturnRequest
from tests.orders.conftest import user


def test_a_refunded_return_gives_a_credit_note_that_lowers_the_balance(app, drive_return, shop):
    with app.app_context():
        before = statement_of(shop.distributor_id).balance
    return_id = drive_return("refunded")
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        note = record.credit_note
        # 2 × 阿莫西林 at 12.00 and 1 × 丹参滴丸 at 25.50
        assert note.amount == Decimal("49.50")
        assert note.number.startswith("CN")
        after = statement_of(shop.distributor_id)
        assert after.balance == before - Decimal("49.50")
        assert [c.number for c in after.credit_notes] == [note.number]


def test_an_exchange_creates_a_free_replacement_order_linked_both_ways(app, drive_return, people):
    return_id = drive_return("replaced", kind="exchange")
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        order = db.session.get(Order, record.replacement_order_id)
        assert order.state == "submitted"
        assert order.total == 0
        assert {line.product.name: line.quantity for line in order.lines} == {"阿莫西林胶囊": 2, "丹参滴丸": 1}
        from crm.returns.services import replacing

        assert replacing(order.id).id == record.id


def test_the_pages_show_the_return_and_the_replacement_both_ways(app, client, drive_return, people, shop):
    from tests.helpers import login

    return_id = drive_return("replaced", kind="exchange")
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        number, replacement_id, source_id = record.number, record.replacement_order_id, record.order_id
    login(client, user_ref(app, shop.portal_user_id))
    page = client.get(f"/returns/{return_id}").get_data(as_text=True)
    assert 'data-testid="replacement-order"' in page
    order_page = client.get(f"/orders/{replacement_id}").get_data(as_text=True)
    assert number in order_page
    assert 'data-testid="replacing"' in order_page
    assert number in client.get(f"/orders/{source_id}").get_data(as_text=True)


def user_ref(app, user_id):
    with app.app_context():
        from tests.helpers import UserRef

        found = user(user_id)
        return UserRef(found.id, found.username, found.role)


def test_restock_puts_the_units_back_once_and_frees_the_codes(app, drive_return, lots):
    before = 1000 - 3  # the lot's release, less the 3 shipped with the order
    return_id = drive_return("inspected")
    with app.app_context():
        from crm.returns import services

        record = db.session.get(ReturnRequest, return_id)
        assert db.session.get(Lot, lots["amox"]).quantity_left == before + 2
        line = next(line for line in record.lines if line.codes)
        code = db.session.get(ShippedCode, line.codes[0].shipped_code_id)
        assert code.returned_at is not None
        assert code.retired_at is None
        # Again: a retry gives nothing back.
        assert all(services.restock(line) is False for line in record.lines)
        db.session.commit()
        assert db.session.get(Lot, lots["amox"]).quantity_left == before + 2


def test_destroyed_units_retire_their_codes_for_good(app, delivered, shop, people, lots):
    from crm.orders import tracecodes
    from crm.returns import services
    from tests.returns.conftest import ask

    goods = delivered()
    return_id = ask(app, goods, shop.portal_user_id, dan=1)
    with app.app_context():
        desk = user(people[Role.SERVICE].id)
        dan_before = db.session.get(Lot, lots["dan"]).quantity_left
        record = db.session.get(ReturnRequest, return_id)
        for event in ("approve", "send_back"):
            services.fire(record, event, desk, seen_version=record.version)
        services.record_receipt(record, desk, seen_version=record.version, received={})
        line = record.lines[0]
        services.record_inspection(
            record, desk, seen_version=record.version, verdicts={line.id: services.Verdict("destroy", "质量部 李四")}
        )
        db.session.commit()
        code = db.session.get(ShippedCode, line.codes[0].shipped_code_id)
        assert code.retired_at is not None
        assert code.returned_at is None
        assert tracecodes.already_out([code.code]) == {code.code}  # can never ship again
        assert db.session.get(Lot, lots["dan"]).quantity_left == dan_before


def test_a_destruction_needs_its_witness(app, drive_return, people):
    import pytest

    from crm.common.errors import BusinessError
    from crm.returns import services

    return_id = drive_return("received")
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        verdicts = {line.id: services.Verdict("destroy") for line in record.lines}
        with pytest.raises(BusinessError, match=r"witness|见证|销毁"):
            services.record_inspection(
                record, user(people[Role.SERVICE].id), seen_version=record.version, verdicts=verdicts
            )


def test_fewer_received_gives_the_rest_back_to_the_shipment_item(app, delivered, shop, people):
    from crm.returns import services
    from tests.returns.conftest import ask, claimed

    goods = delivered()
    return_id = ask(app, goods, shop.portal_user_id, amox=3)
    assert claimed(app, goods.amox_item) == 3
    with app.app_context():
        desk = user(people[Role.SERVICE].id)
        record = db.session.get(ReturnRequest, return_id)
        for event in ("approve", "send_back"):
            services.fire(record, event, desk, seen_version=record.version)
        services.record_receipt(record, desk, seen_version=record.version, received={record.lines[0].id: "1"})
        db.session.commit()
    assert claimed(app, goods.amox_item) == 1
    ask(app, goods, shop.portal_user_id, amox=2)  # the two that never came may be asked again


def test_a_rejected_request_frees_its_units_and_codes(app, delivered, shop, people):
    from crm.returns import services
    from tests.returns.conftest import ask, claimed

    goods = delivered()
    return_id = ask(app, goods, shop.portal_user_id, amox=3, dan=2)
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        services.reject(record, user(people[Role.SERVICE].id), seen_version=record.version, comment="超出退货期")
        db.session.commit()
    assert claimed(app, goods.amox_item) == 0
    ask(app, goods, shop.portal_user_id, amox=3, dan=2)
