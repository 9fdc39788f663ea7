"""The lead machine over every (state, event, role), through the engine, with its SLAs.

Hidden events (log_touch, lose, merge) are fired through ``engine.apply_event``
as their services do: they are hidden only from the generic button route.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead
from crm.leads.services import create_lead
from crm.leads.workflow import LEAD_MACHINE as MACHINE
from crm.sla.calendar import current_calendar
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory

CASES = [(s.code, e.name, r) for s in MACHINE.states for e in MACHINE.events for r in Role]
# Monday 2026-11-30, 09:00 in Shanghai: the record is driven at T0 and the event fired an hour later.
T0 = datetime(2026, 11, 30, 1, 0)
WHEN = T0 + timedelta(hours=1)
WORKING_DAY = timedelta(hours=9)
EXPECTED_SLA = {"new": timedelta(hours=8), "following": 5 * WORKING_DAY, "intent": 10 * WORKING_DAY}


def path_to(state: str) -> list[str]:
    path = MACHINE.path_to(state)
    assert path is not None, f"{state} is unreachable"
    return path


def actor_for(event_name: str) -> Role:
    roles = MACHINE.event(event_name).roles
    return Role.REP if Role.REP in roles else Role.MANAGER


def _history(lead_id: int) -> list[WorkflowHistory]:
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "leads", WorkflowHistory.record_id == lead_id)
            .order_by(WorkflowHistory.id)
        )
    )


@pytest.fixture
def drive_lead(app, make_user):
    """``drive_lead("intent")`` → id of a lead in 南山区 owned by the rep, brought to the state by the engine."""
    users = {
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        Role.SERVICE: make_user(Role.SERVICE),
        Role.ADMIN: make_user(Role.ADMIN),
    }
    with app.app_context():
        campaign = Campaign(name="2026 成都药交会", channel=Channel.TRADE_SHOW)
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id

    def drive_to(state: str) -> int:
        with app.app_context():
            rep = db.session.get(User, users[Role.REP].id)
            lead = create_lead(
                rep,
                company_name=f"深圳南山{state}医药有限公司",
                territory_code="440305",
                campaign_id=campaign_id,
                allow_duplicate=True,
            )
            for event_name in path_to(state):
                actor = db.session.get(User, users[actor_for(event_name)].id)
                comment = "reason" if MACHINE.event(event_name).comment_required else None
                engine.apply_event(lead, event_name, actor, seen_version=lead.version, comment=comment, now=T0)
            db.session.commit()
            return lead.id

    drive_to.users = users
    return drive_to


@pytest.mark.parametrize(("state", "event_name", "role"), CASES, ids=[f"{s}-{e}-{r}" for s, e, r in CASES])
def test_every_state_event_role(app, drive_lead, make_user, state, event_name, role):
    lead_id = drive_lead(state)
    event = MACHINE.event(event_name)
    actor_ref = drive_lead.users.get(role) or make_user(role)
    allowed = state in event.sources and role in event.roles
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        actor = db.session.get(User, actor_ref.id)
        before = (lead.state, lead.version, len(_history(lead_id)), lead.sla_due_at)
        try:
            engine.apply_event(lead, event_name, actor, seen_version=lead.version, comment="a reason", now=WHEN)
            db.session.commit()
            outcome = "moved"
        except engine.TransitionRefused as refused:
            db.session.rollback()
            outcome, message = "refused", refused.message
        except NotFound:
            db.session.rollback()
            outcome = "not found"

        lead = db.session.get(Lead, lead_id)
        history = _history(lead_id)
        if role == Role.DISTRIBUTOR:
            # The portal never sees leads: 404, not a hint that the lead exists.
            assert outcome == "not found"
        elif allowed:
            assert outcome == "moved"
            assert lead.state == event.target
            assert lead.version == before[1] + 1
            last = history[-1]
            assert (last.event, last.from_state, last.to_state, last.actor_id, last.at, last.comment) == (
                event_name,
                state,
                event.target,
                actor.id,
                WHEN,
                "a reason",
            )
            assert lead.state_entered_at == WHEN
            duration = EXPECTED_SLA.get(event.target)
            if duration is not None:
                # A fresh deadline, even when the state is re-entered (a touch restarts "following").
                assert lead.sla_status == "ok"
                assert lead.sla_due_at == current_calendar().add_working_time(WHEN, duration)
                assert lead.sla_next_check_at == lead.sla_warn_at < lead.sla_due_at
            else:
                # No deadline here; "met" when the state just left had one and it was kept.
                assert lead.sla_status == ("met" if state in EXPECTED_SLA else None)
                assert lead.sla_due_at is None
                assert lead.sla_next_check_at is None
        else:
            assert outcome == "refused"
            assert message  # the user is told why
            assert (lead.state, lead.version, len(history), lead.sla_due_at) == before


def test_every_state_is_reachable_and_every_event_is_tested():
    for state in MACHINE.states:
        path_to(state.code)
    assert {e for _s, e, _r in CASES} == {e.name for e in MACHINE.events}
    assert {s for s, _e, _r in CASES} == {s.code for s in MACHINE.states}


def test_the_machine_declares_the_slas_of_the_design():
    assert {state: rule.duration for state, rule in MACHINE.sla.items()} == EXPECTED_SLA


def test_sla_deadlines_in_working_time():
    """8 working hours from Monday 09:00 is Monday 17:00; 5 working days is the Friday's close."""
    calendar = current_calendar()
    assert calendar.add_working_time(T0, EXPECTED_SLA["new"]) == datetime(2026, 11, 30, 9, 0)
    assert calendar.add_working_time(T0, EXPECTED_SLA["following"]) == datetime(2026, 12, 4, 10, 0)
    assert calendar.add_working_time(T0, EXPECTED_SLA["intent"]) == datetime(2026, 12, 11, 10, 0)


@pytest.mark.parametrize(
    ("state", "event_name"), [("applied", "win"), ("new", "lose"), ("following", "lose"), ("lost", "reopen")]
)
@pytest.mark.parametrize("comment", [None, "", "   "])
def test_comment_required_events_refuse_a_blank_comment(app, drive_lead, state, event_name, comment):
    lead_id = drive_lead(state)
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        manager = db.session.get(User, drive_lead.users[Role.MANAGER].id)
        before = (lead.version, len(_history(lead_id)))
        with pytest.raises(engine.TransitionRefused) as refused:
            engine.apply_event(lead, event_name, manager, seen_version=lead.version, comment=comment)
        assert refused.value.message
        db.session.rollback()
        lead = db.session.get(Lead, lead_id)
        assert (lead.state, lead.version, len(_history(lead_id))) == (state, *before)


def test_a_new_lead_starts_with_history_and_the_eight_hour_clock(app, drive_lead):
    lead_id = drive_lead("new")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        [created] = _history(lead_id)
        assert (created.event, created.from_state, created.to_state) == ("create", None, "new")
        assert lead.sla_status == "ok"
        assert lead.sla_due_at == current_calendar().add_working_time(lead.state_entered_at, EXPECTED_SLA["new"])


def test_a_rep_outside_the_territory_gets_404(app, drive_lead, make_user):
    lead_id = drive_lead("new")
    stranger = make_user(Role.REP, territories=["110101"])  # 北京东城区
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        with pytest.raises(NotFound):
            engine.apply_event(lead, "contact", db.session.get(User, stranger.id), seen_version=lead.version)


def test_hidden_events_get_no_button(app, drive_lead):
    lead_id = drive_lead("following")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        rep = db.session.get(User, drive_lead.users[Role.REP].id)
        names = [e.name for e in engine.available_events(lead, rep)]
        assert names == ["show_intent"]  # log_touch and lose have their own forms
