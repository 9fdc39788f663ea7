"""Which workflow buttons ask "are you sure" first: the moves their user cannot take back (issue 11, item 7)."""

from __future__ import annotations

import re

from crm.access.roles import Role
from crm.leads.workflow import LEAD_MACHINE
from crm.orders.workflow import ORDER_MACHINE
from crm.workflow.confirm import confirm_message
from tests.leads.test_lead_pages import gen_lead, people, signed_in, text  # noqa: F401 (fixture)
from tests.workflow.testflow import MACHINE


def asks(machine, event: str, role: Role) -> bool:
    return not machine.undoable_by(machine.event(event), role)


def test_a_move_asks_unless_the_same_role_has_an_event_straight_back():
    assert asks(MACHINE, "take", Role.REP)  # nothing leads back to "open"
    assert not asks(MACHINE, "ask", Role.REP)  # "answer" brings the rep back to "working"
    assert asks(MACHINE, "answer", Role.SERVICE)  # service cannot ask again
    assert not asks(MACHINE, "reopen", Role.REP)  # and "finish" is the rep's way back to "done"
    assert asks(MACHINE, "close", Role.MANAGER)  # a final state is never left
    assert asks(MACHINE, "cancel", Role.ADMIN)


def test_on_leads_the_rep_confirms_intent_application_and_lost_a_manager_can_reopen_a_lost_lead():
    for event in ("contact", "follow", "show_intent", "apply", "lose"):
        assert asks(LEAD_MACHINE, event, Role.REP), event
    assert asks(LEAD_MACHINE, "win", Role.MANAGER)
    assert not asks(LEAD_MACHINE, "lose", Role.MANAGER)  # "reopen" takes it back
    assert not asks(LEAD_MACHINE, "log_touch", Role.REP)  # changes no state
    assert confirm_message(LEAD_MACHINE, "reopen", Role.MANAGER) is None


def test_the_lead_page_puts_the_question_on_the_buttons_that_need_it(app, people):  # noqa: F811
    lead_id = gen_lead(app, people["rep"].id, phones=["13923456781"], events=["contact"])
    page = text(signed_in(app, people["rep"]).get(f"/leads/{lead_id}"))
    buttons = dict(re.findall(r'<button[^>]*data-event="(\w+)"([^>]*)>', page))
    assert "show_intent" in buttons
    assert 'data-confirm="确定执行「有意向」吗？此操作无法撤销。"' in buttons["show_intent"]
    lost = text(signed_in(app, people["rep"]).get(f"/leads/{lead_id}/lost"))
    assert "data-confirm=" in lost
    manager_lost = text(signed_in(app, people["manager"]).get(f"/leads/{lead_id}/lost"))
    assert "data-confirm=" not in manager_lost


def test_putting_an_order_on_hold_asks_whoever_does_it():
    """Whoever holds an order may not release it (another manager must), so nobody can take it back."""
    for role in (Role.SERVICE, Role.MANAGER, Role.ADMIN):
        assert asks(ORDER_MACHINE, "hold", role), role
