"""The screening machine over every (state, event, role), its approval gates, and its SLAs.

Each case is driven to its state through the real services (open, lines,
documents, submit, pick up, score …). The roles are the five of the product plus
the director, a manager with ``is_director``. Hidden events (approve, contract)
are fired through ``engine.apply_event`` as their services do.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from flask import session
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today, utcnow
from crm.distributors.models import Agreement, AgreementLine, AgreementStatus, DocumentKind
from crm.extensions import db
from crm.notify.models import Notification, NotificationKind
from crm.screening import gates, services
from crm.screening.workflow import (
    APPROVAL_GATES,
    DIRECTOR_SECOND,
    HAS_LINES,
    KEY_REGION_FIRST,
)
from crm.screening.workflow import SCREENING_MACHINE as MACHINE
from crm.sla.calendar import current_calendar
from crm.territories.models import code_range
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.helpers import gen_distributor, valid_uscc
from tests.screening.conftest import (
    DIRECTOR,
    ROLES,
    add_licences,
    get_case,
    key_region,
    path_to,
    score_all,
    upload,
    user,
)

CASES = [(s.code, e.name, r) for s in MACHINE.states for e in MACHINE.events for r in ROLES]
WORKING_DAY = timedelta(hours=9)
EXPECTED_SLA = {
    "submitted": 1 * WORKING_DAY,
    "reviewing": 3 * WORKING_DAY,
    "recommended": 2 * WORKING_DAY,
    "approved": 10 * WORKING_DAY,
}
LICENCES, SCORECARD, CLASH, FOUR_EYES, IN_REACH = APPROVAL_GATES


def _history(case_id: int) -> list[WorkflowHistory]:
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "screening", WorkflowHistory.record_id == case_id)
            .order_by(WorkflowHistory.id)
        )
    )


def _role_may(role, event) -> bool:
    return (Role.MANAGER if role == DIRECTOR else role) in event.roles


def _guards_pass(state: str, event_name: str, role) -> bool:
    """The driven cases pass every gate; only the director's second approval depends on who approves."""
    return not (event_name == "approve" and state == "recommended" and role == Role.MANAGER)


@pytest.mark.parametrize(("state", "event_name", "role"), CASES, ids=[f"{s}-{e}-{r}" for s, e, r in CASES])
def test_every_state_event_role(app, drive_case, people, state, event_name, role):
    case_id = drive_case(state)
    event = MACHINE.event(event_name)
    allowed = state in event.sources and _role_may(role, event) and _guards_pass(state, event_name, role)
    with app.app_context():
        case = get_case(case_id)
        actor = user(people, role)
        when = utcnow() + timedelta(minutes=5)
        before = (case.state, case.version, len(_history(case_id)), case.sla_due_at)
        expected_refusal = engine.refusal(case, event_name, actor)
        try:
            engine.apply_event(case, event_name, actor, seen_version=case.version, comment="理由", now=when)
            db.session.commit()
            outcome = "moved"
        except engine.TransitionRefused as refused:
            db.session.rollback()
            outcome, message = "refused", refused.message
        except NotFound:
            db.session.rollback()
            outcome = "not found"

        case = get_case(case_id)
        history = _history(case_id)
        if role == Role.DISTRIBUTOR:
            assert outcome == "not found"  # the portal never sees screening cases
        elif allowed:
            assert outcome == "moved"
            assert case.state == event.target
            assert case.version == before[1] + 1
            last = history[-1]
            assert (last.event, last.from_state, last.to_state, last.actor_id, last.comment) == (
                event_name,
                state,
                event.target,
                actor.id,
                "理由",
            )
            if MACHINE.state(event.target).paused:
                assert case.sla_status == "paused"
            elif event_name == "provide_info":
                assert case.sla_status == "ok"  # resumed with the time left (test below)
            elif event.target in EXPECTED_SLA:
                assert case.sla_status == "ok"
                assert case.sla_due_at == current_calendar().add_working_time(when, EXPECTED_SLA[event.target])
            else:
                assert case.sla_due_at is None
        else:
            assert outcome == "refused"
            assert message == expected_refusal
            if state not in event.sources:
                assert str(MACHINE.state(state).label) in message
            elif not _role_may(role, event):
                assert str(actor.role.label) in message
            else:
                assert message == str(DIRECTOR_SECOND.message)
            assert (case.state, case.version, len(history), case.sla_due_at) == before


def test_every_state_is_reachable_and_every_event_is_tested():
    for state in MACHINE.states:
        path_to(state.code)
    assert {e for _s, e, _r in CASES} == {e.name for e in MACHINE.events}


def test_the_machine_declares_the_slas_of_the_design():
    assert {state: rule.duration for state, rule in MACHINE.sla.items()} == EXPECTED_SLA
    assert MACHINE.state("needs_info").paused


# -- the gates ---------------------------------------------------------------------------


@contextmanager
def english(app):
    """A request in English: gate reasons and refusals read as the English catalog gives them."""
    with app.test_request_context("/"):
        session["locale"] = "en"
        yield


def _message(app, guard) -> str:
    with english(app):
        return str(guard.message)


def _refusal(app, people, case_id, role=Role.MANAGER, event="approve"):
    """Fire ``event`` as ``role``; return the refusal message (in English) and check nothing changed."""
    with english(app):
        case = get_case(case_id)
        before = (case.state, case.version, len(_history(case_id)))
        with pytest.raises(engine.TransitionRefused) as refused:
            engine.apply_event(case, event, user(people, role), seen_version=case.version, comment="同意")
        db.session.rollback()
        case = get_case(case_id)
        assert (case.state, case.version, len(_history(case_id))) == before
        return refused.value.message


def _gate(app, people, case_id, name, role=Role.MANAGER):
    with english(app):
        [result] = [r for r in gates.report(get_case(case_id), user(people, role)) if r.name == name]
        return result


def test_submit_needs_a_line(app, people, drive_case):
    case_id = drive_case("draft")
    with app.app_context():
        case = get_case(case_id)
        services.remove_line(case, user(people, Role.REP), line_id=case.lines[0].id)
        db.session.commit()
    assert _refusal(app, people, case_id, Role.REP, "submit") == _message(app, HAS_LINES)


def test_no_licence_on_file(app, people, drive_case):
    case_id = drive_case("reviewing", documents=False)
    assert _refusal(app, people, case_id) == _message(app, LICENCES)
    result = _gate(app, people, case_id, "licences_valid")
    assert not result.passed
    assert "no business licence uploaded" in result.reason
    assert "no drug-trading licence uploaded" in result.reason


@pytest.mark.parametrize(("days", "passes"), [(89, False), (90, True)])
def test_the_drug_trading_licence_must_run_ninety_more_days(app, people, drive_case, days, passes):
    case_id = drive_case("reviewing")
    with app.app_context():
        case = get_case(case_id)
        services.add_document(
            case,
            user(people, Role.REP),
            kind="drug_trading_licence",
            upload=upload(),
            expires_on=local_today() + timedelta(days=days),
        )
        db.session.commit()
    result = _gate(app, people, case_id, "licences_valid")
    assert result.passed is passes
    if passes:
        with app.app_context():
            case = get_case(case_id)
            engine.apply_event(case, "approve", user(people, Role.MANAGER), seen_version=case.version)
            db.session.commit()
            assert get_case(case_id).state == "approved"
    else:
        assert _refusal(app, people, case_id) == _message(app, LICENCES)
        assert "less than 90 days" in result.reason


def test_missing_score(app, people, drive_case):
    case_id = drive_case("reviewing", scored=False)
    with app.app_context():
        case = get_case(case_id)
        services.score(case, user(people, Role.MANAGER), criterion="capital", score=90, note="注册资本充足")
        db.session.commit()
    assert _refusal(app, people, case_id) == _message(app, SCORECARD)
    result = _gate(app, people, case_id, "score_passes")
    assert "Not scored yet" in result.reason
    assert "Resources" in result.reason
    assert "Capital" not in result.reason


def test_score_below_the_pass_mark(app, people, drive_case):
    case_id = drive_case("reviewing", scored=False)
    with app.app_context():
        score_all(get_case(case_id), user(people, Role.MANAGER), value=59)
        db.session.commit()
    assert _refusal(app, people, case_id) == _message(app, SCORECARD)
    assert _gate(app, people, case_id, "score_passes").reason == "Weighted score 59.0 is below the pass mark 60."


def test_clash_with_an_exclusive_agreement_of_the_city(app, people, drive_case, product_id):
    """Another distributor holds 深圳市 exclusively for the product: a county of it cannot be granted."""
    case_id = drive_case("reviewing")
    holder = gen_distributor(app, "440303", name="罗湖独家医药")
    with app.app_context():
        agreement = Agreement(number="JX-2026-001", distributor_id=holder, status=AgreementStatus.SIGNED)
        lo, hi = code_range("440300", 2)
        agreement.lines.append(
            AgreementLine(product_id=product_id, territory_code="440300", exclusive=True, code_lo=lo, code_hi=hi)
        )
        db.session.add(agreement)
        db.session.commit()
    assert _refusal(app, people, case_id) == _message(app, CLASH)
    reason = _gate(app, people, case_id, "no_exclusive_clash").reason
    assert "罗湖独家医药" in reason
    assert "头孢克肟片" in reason


def test_the_submitter_cannot_approve(app, people, drive_case, product_id):
    """A manager who drafted and submitted the case must leave the approval to someone else."""
    with app.app_context():
        manager = user(people, Role.MANAGER)
        case = services.open_case(manager, company_name="广州白云医药", uscc=valid_uscc(), territory_code="440111")
        services.add_line(case, manager, product_id=product_id, territory_code="440111")
        add_licences(case, manager)
        services.fire(case, "submit", manager, seen_version=case.version)
        assert case.assignee_id == people[DIRECTOR].id  # the other manager of the region reviews it
        services.fire(case, "pick_up", manager, seen_version=case.version)
        score_all(case, manager)
        db.session.commit()
        case_id = case.id
    assert _refusal(app, people, case_id) == _message(app, FOUR_EYES)
    assert not _gate(app, people, case_id, "not_submitter").passed
    assert _gate(app, people, case_id, "not_submitter", DIRECTOR).passed


def test_a_key_region_case_is_not_approved_from_review(app, people, drive_case):
    key_region(app)
    case_id = drive_case("reviewing")
    assert _refusal(app, people, case_id) == _message(app, KEY_REGION_FIRST)
    assert _refusal(app, people, case_id, DIRECTOR) == _message(app, KEY_REGION_FIRST)


def test_a_key_region_case_needs_a_director_after_the_managers_recommendation(app, people, drive_case):
    key_region(app)
    case_id = drive_case("recommended")
    assert _refusal(app, people, case_id) == _message(app, DIRECTOR_SECOND)
    assert _gate(app, people, case_id, "director_second_approval").reason == (
        "Only a director can give the second approval."
    )
    with app.app_context():
        case = get_case(case_id)
        engine.apply_event(case, "approve", user(people, DIRECTOR), seen_version=case.version)
        db.session.commit()
        assert get_case(case_id).state == "approved"


def test_the_recommending_director_cannot_also_approve(app, people, drive_case):
    key_region(app)
    case_id = drive_case("reviewing")
    with app.app_context():
        case = get_case(case_id)
        services.fire(case, "recommend", user(people, DIRECTOR), seen_version=case.version)
        db.session.commit()
        assert case.recommended_by_id == people[DIRECTOR].id
    assert _refusal(app, people, case_id, DIRECTOR) == _message(app, DIRECTOR_SECOND)
    assert "different director" in _gate(app, people, case_id, "director_second_approval", DIRECTOR).reason
    with app.app_context():  # the admin counts as a director
        case = get_case(case_id)
        engine.apply_event(case, "approve", user(people, Role.ADMIN), seen_version=case.version)
        db.session.commit()


def test_every_gate_passes_and_the_report_says_so(app, people, drive_case):
    case_id = drive_case("reviewing")
    with app.app_context():
        results = gates.report(get_case(case_id), user(people, Role.MANAGER))
        assert [r.name for r in results] == [
            "licences_valid",
            "score_passes",
            "no_exclusive_clash",
            "not_submitter",
            "lines_in_reach",
        ]
        assert all(r.passed for r in results)


# -- handover: who acts next ------------------------------------------------------------


def test_the_case_goes_to_whoever_acts_next(app, people, drive_case):
    case_id = drive_case("draft")
    with app.app_context():
        case = get_case(case_id)
        rep, manager, director = user(people, Role.REP), user(people, Role.MANAGER), user(people, DIRECTOR)
        assert case.assignee_id == rep.id
        services.fire(case, "submit", rep, seen_version=case.version)
        assert case.submitted_by_id == rep.id
        assert case.assignee_id in (manager.id, director.id)  # a manager of Guangdong
        services.fire(case, "pick_up", manager, seen_version=case.version)
        assert case.assignee_id == manager.id
        services.fire(case, "request_info", manager, seen_version=case.version, comment="缺GSP证书")
        assert case.assignee_id == rep.id
        services.fire(case, "provide_info", rep, seen_version=case.version)
        assert case.assignee_id == manager.id
        score_all(case, manager)
        services.fire(case, "recommend", manager, seen_version=case.version)
        assert (case.recommended_by_id, case.assignee_id) == (manager.id, director.id)
        db.session.commit()
        # Each one who must act next hears that the case is now theirs.
        told = db.session.execute(
            select(Notification.user_id, Notification.state)
            .where(Notification.kind == NotificationKind.ASSIGNED, Notification.record_id == case_id)
            .order_by(Notification.id)
        ).all()
        assert [tuple(row) for row in told][-3:] == [
            (rep.id, "needs_info"),
            (manager.id, "reviewing"),
            (director.id, "recommended"),
        ]


def test_a_territory_without_a_manager_falls_back_to_any_manager(app, people, product_id):
    with app.app_context():
        admin = user(people, Role.ADMIN)
        case = services.open_case(admin, company_name="北京东城医药", territory_code="110101")
        services.add_line(case, admin, product_id=product_id, territory_code="110101")
        services.fire(case, "submit", admin, seen_version=case.version)
        assert db.session.get(User, case.assignee_id).role == Role.MANAGER
        db.session.rollback()


# -- SLA -----------------------------------------------------------------------------------


def test_needs_info_pauses_the_clock_and_resume_keeps_the_time_left(app, people, drive_case):
    case_id = drive_case("submitted")
    calendar = current_calendar()
    pick_up = datetime(2026, 11, 30, 1, 0)  # Monday 09:00 Shanghai
    ask = datetime(2026, 11, 30, 5, 0)  # four working hours later
    answer = datetime(2026, 12, 7, 2, 0)  # a week later
    with app.app_context():
        case = get_case(case_id)
        manager, rep = user(people, Role.MANAGER), user(people, Role.REP)
        services.fire(case, "pick_up", manager, seen_version=case.version, now=pick_up)
        db.session.commit()
        due = case.sla_due_at
        assert due == calendar.add_working_time(pick_up, 3 * WORKING_DAY)
        left = calendar.working_time_between(ask, due)
        services.fire(case, "request_info", manager, seen_version=case.version, comment="缺授权书", now=ask)
        db.session.commit()
        assert case.sla_status == "paused"
        assert case.sla_due_at is None
        assert case.sla_remaining_seconds == left.total_seconds()
        # The applicant side adds the missing document while the clock stands still.
        services.add_document(case, rep, kind="authorization_letter", upload=upload())
        services.fire(case, "provide_info", rep, seen_version=case.version, now=answer)
        db.session.commit()
        assert case.state == "reviewing"
        assert case.sla_status == "ok"
        assert case.sla_due_at == calendar.add_working_time(answer, left)
        assert {d.kind for d in case.documents} >= {DocumentKind.AUTHORIZATION_LETTER}
