"""The engine over the test workflow: every (state, event, role), guards, versions, history."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import NotFound

from crm.access.roles import Role
from crm.auth.models import AuditEvent, User
from crm.common.errors import Conflict
from crm.extensions import db
from crm.sla.calendar import current_calendar
from crm.workflow import engine
from crm.workflow.models import HistoryIsAppendOnly, WorkflowHistory, history_maintenance
from tests.workflow.testflow import MACHINE, TestRecord

CASES = [(s.code, e.name, r) for s in MACHINE.states for e in MACHINE.events for r in Role]


def _history(record_id: int) -> list[WorkflowHistory]:
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "testflow", WorkflowHistory.record_id == record_id)
            .order_by(WorkflowHistory.id)
        )
    )


@pytest.mark.parametrize(("state", "event_name", "role"), CASES, ids=[f"{s}-{e}-{r}" for s, e, r in CASES])
def test_every_state_event_role(app, drive, make_user, state, event_name, role):
    record_id = drive(state)
    event = MACHINE.event(event_name)
    actor_ref = drive.users.get(role) or make_user(role)
    allowed = state in event.sources and role in event.roles
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        actor = db.session.get(User, actor_ref.id)
        before = (record.state, record.version, len(_history(record_id)))
        when = datetime(2026, 11, 24, 2, 0)  # Tuesday 10:00 in Shanghai
        try:
            engine.apply_event(record, event_name, actor, seen_version=record.version, comment="a reason", now=when)
            db.session.commit()
            outcome = "moved"
        except engine.TransitionRefused as refused:
            db.session.rollback()
            outcome, message = "refused", refused.message
        except NotFound:
            db.session.rollback()
            outcome = "not found"

        record = db.session.get(TestRecord, record_id)
        history = _history(record_id)
        if role == Role.DISTRIBUTOR:
            # A distributor's portal never sees internal records: 404, not a hint that it exists.
            assert outcome == "not found"
        elif allowed:
            assert outcome == "moved"
            assert record.state == event.target
            assert record.version == before[1] + 1
            last = history[-1]
            assert (last.event, last.from_state, last.to_state, last.actor_id) == (
                event_name,
                state,
                event.target,
                actor.id,
            )
            assert last.at == when
            rule = MACHINE.sla.get(event.target)
            target = MACHINE.state(event.target)
            if target.paused:
                assert record.sla_status == "paused"
                assert record.sla_due_at is None
            elif rule and not (state == "waiting" and event.target == "working"):
                assert record.sla_status == "ok"
                assert record.sla_due_at == current_calendar().add_working_time(when, rule.duration)
                assert record.sla_next_check_at == record.sla_warn_at < record.sla_due_at
            elif rule is None:
                # No deadline here: "met" when the one just left was kept (it was: we moved in time).
                left = MACHINE.sla.get(state) and not MACHINE.state(state).paused
                assert record.sla_status == ("met" if left else None)
                assert record.sla_due_at is None
        else:
            assert outcome == "refused"
            assert message  # the user is told why
            assert (record.state, record.version, len(history)) == before


def test_every_state_is_reachable_and_every_event_is_tested():
    from tests.conftest import path_to

    for state in MACHINE.states:
        path_to(state.code)
    assert {e for _s, e, _r in CASES} == {e.name for e in MACHINE.events}


def test_guard_failure_says_why_and_changes_nothing(app, drive):
    record_id = drive("working", summary=None)
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        with pytest.raises(engine.TransitionRefused) as refused:
            engine.apply_event(record, "finish", rep, seen_version=record.version)
        assert refused.value.message == "请先填写总结。" or "summary" in refused.value.message
        db.session.rollback()
        assert db.session.get(TestRecord, record_id).state == "working"


def test_comment_required_event_refuses_blank_comment(app, drive):
    record_id = drive("open")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        manager = db.session.get(User, drive.users[Role.MANAGER].id)
        with pytest.raises(engine.TransitionRefused):
            engine.apply_event(record, "cancel", manager, seen_version=record.version, comment="   ")
        db.session.rollback()
        engine.apply_event(record, "cancel", manager, seen_version=record.version, comment="duplicate")
        db.session.commit()
        assert _history(record_id)[-1].comment == "duplicate"


def test_stale_version_is_a_conflict_and_changes_nothing(app, drive):
    record_id = drive("open")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        with pytest.raises(Conflict):
            engine.apply_event(record, "take", rep, seen_version=record.version - 1)
        with pytest.raises(Conflict):
            engine.apply_event(record, "take", rep, seen_version="not-a-number")
        db.session.rollback()
        assert db.session.get(TestRecord, record_id).state == "open"
        assert len(_history(record_id)) == 1


def test_rep_outside_the_territory_gets_404(app, drive, make_user):
    record_id = drive("open", territory="110101")  # Beijing
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        with pytest.raises(NotFound):
            engine.apply_event(record, "take", rep, seen_version=record.version)


def test_creation_writes_history_and_starts_the_clock(app, drive):
    record_id = drive("open")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        [created] = _history(record_id)
        assert (created.event, created.from_state, created.to_state) == ("create", None, "open")
        assert record.sla_status == "ok"
        assert record.sla_due_at is not None


def test_pause_keeps_the_working_time_left_and_resumes_with_it(app, drive):
    record_id = drive("working")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        calendar = current_calendar()
        take_at = datetime(2026, 11, 23, 1, 0)  # Monday 09:00 Shanghai
        engine.apply_event(record, "ask", rep, seen_version=record.version, now=take_at)
        db.session.commit()
        # The record re-entered "working" at drive time; re-enter it at a known instant.
        engine.apply_event(record, "answer", rep, seen_version=record.version, now=take_at)
        db.session.commit()
        due = record.sla_due_at
        left_before_pause = calendar.working_time_between(datetime(2026, 11, 23, 3, 0), due)
        engine.apply_event(record, "ask", rep, seen_version=record.version, now=datetime(2026, 11, 23, 3, 0))
        db.session.commit()
        assert record.sla_status == "paused"
        assert record.sla_remaining_seconds == left_before_pause.total_seconds()
        # A week of waiting on the customer does not count.
        resume = datetime(2026, 11, 30, 6, 0)  # next Monday 14:00 Shanghai
        engine.apply_event(record, "answer", rep, seen_version=record.version, now=resume)
        db.session.commit()
        assert record.sla_status == "ok"
        assert record.sla_due_at == calendar.add_working_time(resume, left_before_pause)


def test_leaving_a_state_records_whether_its_deadline_was_met(app, drive):
    record_id = drive("open")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        late = record.sla_due_at.replace(year=record.sla_due_at.year + 1)
        engine.apply_event(record, "take", rep, seen_version=record.version, now=late)
        db.session.commit()
        assert _history(record_id)[-1].sla_outcome == "breached"


def test_state_cannot_be_assigned_outside_the_engine(app, drive):
    record_id = drive("open")
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        with pytest.raises(AttributeError):
            record.state = "closed"


def test_history_is_append_only(app, drive):
    record_id = drive("working")
    with app.app_context():
        entry = _history(record_id)[0]
        entry.comment = "rewritten"
        with pytest.raises(HistoryIsAppendOnly):
            db.session.flush()
        db.session.rollback()
        db.session.delete(_history(record_id)[0])
        with pytest.raises(HistoryIsAppendOnly):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(WorkflowHistory)) == 2


@pytest.mark.parametrize(
    "statement",
    [
        lambda: update(WorkflowHistory).values(comment="rewritten"),
        lambda: delete(WorkflowHistory),
        lambda: update(AuditEvent).values(detail="tampered"),
        lambda: delete(AuditEvent),
    ],
    ids=["update history", "delete history", "update audit", "delete audit"],
)
def test_the_database_refuses_to_change_history_whatever_the_statement(app, drive, statement):
    """A bulk statement passes the ORM's hooks by; the database's triggers stop it and nothing changes."""
    record_id = drive("working")
    with app.app_context():
        db.session.add(AuditEvent(event="login", detail="from the test"))
        db.session.commit()
        before = [(h.id, h.comment) for h in _history(record_id)], db.session.scalars(select(AuditEvent.detail)).all()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(statement())
        db.session.rollback()
        after = [(h.id, h.comment) for h in _history(record_id)], db.session.scalars(select(AuditEvent.detail)).all()
        assert after == before


def test_history_can_be_erased_only_through_the_maintenance_hatch(app, drive):
    record_id = drive("working")
    with app.app_context():
        db.session.execute(insert(history_maintenance).values(reason="court order 2026-001"))
        db.session.execute(delete(WorkflowHistory).where(WorkflowHistory.record_id == record_id))
        db.session.execute(delete(history_maintenance))
        db.session.commit()
        assert _history(record_id) == []
        assert db.session.scalar(select(func.count()).select_from(history_maintenance)) == 0


def test_available_events_follow_role_and_guards(app, drive):
    record_id = drive("working", summary=None)
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        rep = db.session.get(User, drive.users[Role.REP].id)
        manager = db.session.get(User, drive.users[Role.MANAGER].id)
        assert [e.name for e in engine.available_events(record, rep)] == ["ask"]  # finish is guarded
        assert [e.name for e in engine.available_events(record, manager)] == ["cancel"]


def test_a_machine_that_contradicts_itself_is_refused_at_import():
    from crm.workflow import Event, Machine, State

    with pytest.raises(ValueError, match="unknown state"):
        Machine("bad", "Bad", (State("a", "A"),), (Event("go", "Go", ("a",), "b", frozenset({Role.REP})),), "a")
    with pytest.raises(ValueError, match="leaves a final state"):
        Machine(
            "bad",
            "Bad",
            (State("a", "A", final=True), State("b", "B")),
            (Event("go", "Go", ("a",), "b", frozenset({Role.REP})),),
            "b",
        )


def test_the_assignee_hears_when_someone_else_moves_their_record(app, drive):
    from crm.notify.models import Notification

    record_id = drive("done")  # assigned to the rep
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        manager = db.session.get(User, drive.users[Role.MANAGER].id)
        engine.apply_event(record, "reopen", manager, seen_version=record.version, comment="missing invoice")
        db.session.commit()
        notes = db.session.execute(select(Notification.user_id, Notification.kind, Notification.message)).all()
    # The rep's own moves while driving the record produced nothing; the manager's move did.
    assert [tuple(n) for n in notes] == [(drive.users[Role.REP].id, "transition", "missing invoice")]


def test_a_machine_with_an_unreachable_state_is_refused():
    from crm.workflow import Event, Machine, State

    with pytest.raises(ValueError, match="cannot be reached"):
        Machine(
            "bad",
            "Bad",
            (State("a", "A"), State("b", "B"), State("island", "Island")),
            (Event("go", "Go", ("a",), "b", frozenset({Role.REP})),),
            "a",
        )
