"""The distributor machine over every (state, event, role), on records driven by the real services.

``activate`` and ``terminate`` are hidden: the signing and termination services
fire them through the engine, and the generic button route refuses them.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.distributors import onboarding
from crm.distributors.models import Distributor
from crm.distributors.workflow import DISTRIBUTOR_MACHINE as MACHINE
from crm.extensions import db
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.helpers import login, post

CASES = [(s.code, e.name, r) for s in MACHINE.states for e in MACHINE.events for r in Role]


@pytest.fixture
def drive(app, factory, people, products):
    """``drive("suspended")`` → id of a distributor brought there through the services."""

    def drive_to(state: str) -> int:
        made = (
            factory.signed([(products["丹参滴丸"], "440305", False)])
            if state in ("active", "suspended")
            else factory.draft([(products["丹参滴丸"], "440305", False)])
        )
        with app.app_context():
            distributor = db.session.get(Distributor, made.distributor_id)
            manager = db.session.get(User, people[Role.MANAGER].id)
            if state == "suspended":
                engine.apply_event(distributor, "suspend", manager, seen_version=distributor.version, comment="欠款")
            elif state == "terminated":
                onboarding.terminate_distributor(distributor, manager, distributor.version, "不再合作")
            db.session.commit()
            assert distributor.state == state
        return made.distributor_id

    return drive_to


def _history_count(distributor_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WorkflowHistory)
        .where(WorkflowHistory.workflow == "distributors", WorkflowHistory.record_id == distributor_id)
    )


@pytest.mark.parametrize(("state", "event_name", "role"), CASES, ids=[f"{s}-{e}-{r}" for s, e, r in CASES])
def test_every_state_event_role(app, drive, people, make_user, state, event_name, role):
    distributor_id = drive(state)
    event = MACHINE.event(event_name)
    # The portal user belongs to this very company: refused by role, not by reach.
    actor_ref = people.get(role) or make_user(role, company_id=distributor_id)
    allowed = state in event.sources and role in event.roles
    with app.app_context():
        distributor = db.session.get(Distributor, distributor_id)
        actor = db.session.get(User, actor_ref.id)
        before = (distributor.state, distributor.version, _history_count(distributor_id))
        try:
            engine.apply_event(distributor, event_name, actor, seen_version=distributor.version, comment="理由")
            db.session.commit()
            outcome = "moved"
        except engine.TransitionRefused:
            db.session.rollback()
            outcome = "refused"
        distributor = db.session.get(Distributor, distributor_id)
        if allowed:
            assert outcome == "moved"
            assert distributor.state == event.target
            assert distributor.version == before[1] + 1
            last = db.session.scalars(
                select(WorkflowHistory)
                .where(WorkflowHistory.workflow == "distributors", WorkflowHistory.record_id == distributor_id)
                .order_by(WorkflowHistory.id.desc())
            ).first()
            assert (last.event, last.from_state, last.to_state, last.actor_id, last.comment) == (
                event_name,
                state,
                event.target,
                actor.id,
                "理由",
            )
        else:
            assert outcome == "refused"
            assert (distributor.state, distributor.version, _history_count(distributor_id)) == before


@pytest.mark.parametrize("event_name", ["activate", "terminate"])
def test_hidden_events_have_no_bare_button(app, client, drive, people, event_name):
    distributor_id = drive("onboarding")
    login(client, people[Role.MANAGER])
    page = client.get(f"/distributors/{distributor_id}").get_data(as_text=True)
    assert f'data-event="{event_name}"' not in page
    with app.app_context():
        version = db.session.get(Distributor, distributor_id).version
    response = post(
        client,
        f"/workflows/distributors/{distributor_id}/events/{event_name}",
        {"seen_version": version, "comment": "x"},
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Distributor, distributor_id).state == "onboarding"


def test_suspend_and_reinstate_from_the_profile_page(app, client, drive, people):
    distributor_id = drive("active")
    login(client, people[Role.MANAGER])
    page = client.get(f"/distributors/{distributor_id}").get_data(as_text=True)
    assert 'data-event="suspend"' in page
    assert 'data-event="reinstate"' not in page
    with app.app_context():
        version = db.session.get(Distributor, distributor_id).version
    response = post(
        client, f"/workflows/distributors/{distributor_id}/events/suspend", {"seen_version": version, "comment": "欠款"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/distributors/{distributor_id}")
    page = client.get(f"/distributors/{distributor_id}").get_data(as_text=True)
    assert 'data-event="reinstate"' in page
    assert "欠款" in page  # the history shows why


@pytest.mark.parametrize("role", [Role.REP, Role.SERVICE])
def test_reps_and_service_see_no_buttons(app, client, drive, people, role):
    distributor_id = drive("active")
    login(client, people[role])
    page = client.get(f"/distributors/{distributor_id}").get_data(as_text=True)
    assert 'data-event="suspend"' not in page
    assert 'data-testid="terminate"' not in page
