"""The return machine over every (state, event, role), on returns driven there by the real services.

Hidden events are fired by the return services; here the engine is called
directly, so that the table's role checks and guards are what refuse, and a
refusal changes nothing. The guards then each fail with their own message.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.products.models import Product
from crm.returns.models import ReturnRequest
from crm.returns.workflow import (
    DECIDER_FOR_REASON,
    IS_EXCHANGE,
    IS_RETURN,
    NOT_THE_REQUESTER,
    TEMPERATURE_RECORDED,
)
from crm.returns.workflow import RETURN_MACHINE as MACHINE
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.orders.conftest import user
from tests.returns.conftest import ask

# Every (state, event) pair; each test walks every role on one driven record, rolling back after
# each attempt, so that 9 × 8 records are driven rather than 9 × 8 × 5.
CASES = [(s.code, e.name) for s in MACHINE.states for e in MACHINE.events]


def _kind_for(state: str) -> str:
    return "exchange" if state == "replaced" else "return"


def _expected(state: str, event_name: str, role: Role) -> tuple[str, object | None]:
    """("moved", None) or ("refused", the guard whose message the user reads, if a guard refuses)."""
    event = MACHINE.event(event_name)
    if state not in event.sources or role not in event.roles:
        return "refused", None
    if event_name == "replace":
        return "refused", IS_EXCHANGE  # a driven "inspected" return is a return, not an exchange
    return "moved", None


def _history_count(return_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WorkflowHistory)
        .where(WorkflowHistory.workflow == "returns", WorkflowHistory.record_id == return_id)
    )


@pytest.mark.parametrize(("state", "event_name"), CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_every_state_event_role(app, drive_return, shop, people, state, event_name):
    return_id = drive_return(state, kind=_kind_for(state))
    wrong = []
    for role in Role:
        outcome_wanted, guard = _expected(state, event_name, role)
        actor_id = shop.portal_user_id if role == Role.DISTRIBUTOR else people[role].id
        with app.app_context():
            record = db.session.get(ReturnRequest, return_id)
            actor = user(actor_id)
            before = (record.state, record.version, _history_count(return_id))
            message, moved_to = None, None
            try:
                engine.apply_event(record, event_name, actor, seen_version=record.version, comment="理由")
                outcome, moved_to = "moved", record.state
                last = db.session.scalars(
                    select(WorkflowHistory)
                    .where(WorkflowHistory.workflow == "returns", WorkflowHistory.record_id == return_id)
                    .order_by(WorkflowHistory.id.desc())
                ).first()
                if (last.event, last.from_state, last.actor_id, last.comment) != (event_name, state, actor.id, "理由"):
                    wrong.append(f"{role}: history {last.event} {last.from_state} {last.actor_id} {last.comment}")
            except engine.TransitionRefused as refused:
                outcome, message = "refused", refused.message
            db.session.rollback()  # the next role tries the same record in the same state
            record = db.session.get(ReturnRequest, return_id)
            if outcome != outcome_wanted:
                wrong.append(f"{role}: {outcome} ({message}), expected {outcome_wanted}")
            elif outcome == "moved" and moved_to != MACHINE.event(event_name).target:
                wrong.append(f"{role}: moved to {moved_to}")
            elif outcome == "refused":
                if (record.state, record.version, _history_count(return_id)) != before:
                    wrong.append(f"{role}: a refusal changed the record")
                if guard is not None and message != str(guard.message):
                    wrong.append(f"{role}: message {message!r}, expected {guard.message!s}")
    assert not wrong, "\n".join(wrong)


def said(app, message) -> str:
    """A guard's message as the refusal carries it: translated in the app's (default) language."""
    with app.app_context():
        return str(message)


def _refusal(app, return_id: int, event: str, actor_id: int) -> str | None:
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        try:
            engine.apply_event(record, event, user(actor_id), seen_version=record.version, comment="理由")
        except engine.TransitionRefused as refused:
            db.session.rollback()
            return refused.message
        db.session.rollback()
        return None


@pytest.mark.parametrize("event", ["approve", "reject"])
def test_the_requester_never_decides_its_own_request(app, delivered, people, event):
    desk = people[Role.SERVICE].id
    return_id = ask(app, delivered(), desk, amox=1)  # the order desk asked on the distributor's behalf
    assert _refusal(app, return_id, event, desk) == said(app, NOT_THE_REQUESTER.message)
    assert _refusal(app, return_id, event, people[Role.MANAGER].id) is None


@pytest.mark.parametrize("event", ["approve", "reject"])
def test_quality_returns_are_decided_by_a_manager(app, delivered, shop, people, event):
    return_id = ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)
    assert _refusal(app, return_id, event, people[Role.SERVICE].id) == said(app, DECIDER_FOR_REASON.message)
    assert _refusal(app, return_id, event, people[Role.MANAGER].id) is None


def test_the_policy_decides_which_reasons_need_a_manager(app, delivered, shop, people):
    from crm.returns.models import ReturnPolicy

    with app.app_context():
        db.session.add(ReturnPolicy(agreement_id=shop.agreement_id, manager_reasons="damaged"))
        db.session.commit()
    damaged = ask(app, delivered(), shop.portal_user_id, reason="damaged", amox=1)
    quality = ask(app, delivered(), shop.portal_user_id, reason="quality", amox=1)
    assert _refusal(app, damaged, "approve", people[Role.SERVICE].id) == said(app, DECIDER_FOR_REASON.message)
    assert _refusal(app, quality, "approve", people[Role.SERVICE].id) is None


def test_cold_chain_goods_need_the_temperature_record_before_approval(app, delivered, shop, people):
    from crm.returns import services

    with app.app_context():
        db.session.get(Product, shop.amox).cold_chain = True
        db.session.commit()
    return_id = ask(app, delivered(), shop.portal_user_id, amox=1)
    assert _refusal(app, return_id, "approve", people[Role.SERVICE].id) == said(app, TEMPERATURE_RECORDED.message)
    with app.app_context():
        record = db.session.get(ReturnRequest, return_id)
        portal = user(shop.portal_user_id)
        services.add_temperature_record(record, portal, seen_version=record.version, record="2.8–6.1 °C，全程在范围内")
        db.session.commit()
    assert _refusal(app, return_id, "approve", people[Role.SERVICE].id) is None


def test_a_return_is_refunded_and_an_exchange_replaced(app, drive_return, people):
    desk = people[Role.SERVICE].id
    exchange = drive_return("inspected", kind="exchange")
    assert _refusal(app, exchange, "refund", desk) == said(app, IS_RETURN.message)
    refund = drive_return("inspected")
    assert _refusal(app, refund, "replace", desk) == said(app, IS_EXCHANGE.message)


@pytest.mark.parametrize("event_name", [e.name for e in MACHINE.events if e.hidden])
def test_hidden_events_have_no_generic_route(app, client, drive_return, people, event_name):
    from tests.helpers import login, post

    source = MACHINE.event(event_name).sources[0]
    return_id = drive_return(source, kind="exchange" if event_name == "replace" else "return")
    login(client, people[Role.ADMIN])
    with app.app_context():
        version = db.session.get(ReturnRequest, return_id).version
    for url in (f"/workflows/returns/{return_id}/events/{event_name}", f"/returns/{return_id}/events/{event_name}"):
        assert post(client, url, {"seen_version": version, "comment": "x"}).status_code == 404
    with app.app_context():
        assert db.session.get(ReturnRequest, return_id).state == source


def test_the_slas_are_the_designs():
    from crm.leads.workflow import WORKING_DAY

    assert {code: rule.duration for code, rule in MACHINE.sla.items()} == {
        "requested": 2 * WORKING_DAY,
        "received": 3 * WORKING_DAY,
        "inspected": 5 * WORKING_DAY,
    }
