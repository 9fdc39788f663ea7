"""The order machine over every (state, event, role), on orders driven there by the real services.

Hidden events are fired by the order services through the engine; here the
engine is called directly, so that every guard and role check of the table is
what refuses, and a refusal changes nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.orders.models import Order
from crm.orders.workflow import CANCELLABLE_BY_ACTOR, FULLY_SHIPPED
from crm.orders.workflow import ORDER_MACHINE as MACHINE
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.orders.conftest import user

CASES = [(s.code, e.name, r) for s in MACHINE.states for e in MACHINE.events for r in Role]


def _expected(state: str, event_name: str, role: Role) -> tuple[str, object | None]:
    """("moved", None) or ("refused", the guard whose message the user reads, if a guard refuses)."""
    event = MACHINE.event(event_name)
    if state not in event.sources or role not in event.roles:
        return "refused", None
    if event_name == "ship":
        return "refused", FULLY_SHIPPED  # a driven "picking" order has nothing shipped yet
    if event_name == "cancel" and role == Role.DISTRIBUTOR and state != "submitted":
        return "refused", CANCELLABLE_BY_ACTOR
    return "moved", None


def _history_count(order_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WorkflowHistory)
        .where(WorkflowHistory.workflow == "orders", WorkflowHistory.record_id == order_id)
    )


@pytest.mark.parametrize(("state", "event_name", "role"), CASES, ids=[f"{s}-{e}-{r}" for s, e, r in CASES])
def test_every_state_event_role(app, drive_order, shop, people, state, event_name, role):
    order_id = drive_order(state)
    outcome_wanted, guard = _expected(state, event_name, role)
    actor_id = shop.portal_user_id if role == Role.DISTRIBUTOR else people[role].id
    with app.app_context():
        order = db.session.get(Order, order_id)
        actor = user(actor_id)
        before = (order.state, order.version, _history_count(order_id))
        message = None
        try:
            engine.apply_event(order, event_name, actor, seen_version=order.version, comment="理由")
            db.session.commit()
            outcome = "moved"
        except engine.TransitionRefused as refused:
            db.session.rollback()
            outcome, message = "refused", refused.message
        order = db.session.get(Order, order_id)
        assert outcome == outcome_wanted, message
        if outcome == "moved":
            assert order.state == MACHINE.event(event_name).target
            last = db.session.scalars(
                select(WorkflowHistory)
                .where(WorkflowHistory.workflow == "orders", WorkflowHistory.record_id == order_id)
                .order_by(WorkflowHistory.id.desc())
            ).first()
            assert (last.event, last.from_state, last.actor_id, last.comment) == (event_name, state, actor.id, "理由")
        else:
            assert (order.state, order.version, _history_count(order_id)) == before
            if guard is not None:
                assert message == str(guard.message)


@pytest.mark.parametrize("event_name", [e.name for e in MACHINE.events if e.hidden])
def test_hidden_events_have_no_generic_route(app, client, drive_order, people, event_name):
    from tests.helpers import login, post

    source = MACHINE.event(event_name).sources[0]
    order_id = drive_order(source)
    login(client, people[Role.ADMIN])
    with app.app_context():
        version = db.session.get(Order, order_id).version
    response = post(
        client, f"/workflows/orders/{order_id}/events/{event_name}", {"seen_version": version, "comment": "x"}
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Order, order_id).state == source
