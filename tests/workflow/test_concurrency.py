"""Two people firing events on the same record at once: exactly one wins, the other gets 409."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.errors import Conflict
from crm.extensions import db
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login
from tests.workflow.testflow import TestRecord


def _transitions(app, record_id) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(WorkflowHistory).where(WorkflowHistory.record_id == record_id)
        )


@pytest.mark.parametrize("rounds", [5])
def test_two_concurrent_requests_one_wins_one_conflicts(app, drive, make_user, rounds):
    rep = drive.users[Role.REP]
    manager = drive.users[Role.MANAGER]
    for _ in range(rounds):
        record_id = drive("open")
        with app.app_context():
            version = db.session.get(TestRecord, record_id).version
        clients = []
        for user, event in ((rep, "take"), (manager, "cancel")):
            client = app.test_client()
            login(client, user)
            clients.append((client, event, csrf_token(client)))
        start = threading.Barrier(len(clients))
        statuses = []

        def fire(client, event, token, record_id=record_id, start=start, version=version, statuses=statuses):
            start.wait()
            response = client.post(
                f"/workflows/testflow/{record_id}/events/{event}",
                data={"csrf_token": token, "seen_version": version, "comment": "duplicate lead"},
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=fire, args=c) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        assert sorted(statuses) == [303, 409]
        assert _transitions(app, record_id) == 2  # created + exactly one event
        with app.app_context():
            record = db.session.get(TestRecord, record_id)
            assert record.version == version + 1
            assert record.state in ("working", "cancelled")


def test_a_write_between_check_and_flush_is_still_refused(app, drive):
    """The version check passed on a copy that went stale before the UPDATE: the ORM refuses it."""
    record_id = drive("open")
    rep_id, manager_id = drive.users[Role.REP].id, drive.users[Role.MANAGER].id
    with app.app_context():
        stale = db.session.get(TestRecord, record_id)
        seen = stale.version
        db.session.expunge(stale)  # keep the copy the second user loaded
        db.session.commit()

        winner = db.session.get(TestRecord, record_id)
        engine.apply_event(winner, "take", db.session.get(User, rep_id), seen_version=seen)
        db.session.commit()
        db.session.expunge_all()

        loser = db.session.merge(stale, load=False)
        with pytest.raises(Conflict):
            engine.apply_event(
                loser, "cancel", db.session.get(User, manager_id), seen_version=seen, comment="duplicate"
            )
        db.session.rollback()
        assert db.session.get(TestRecord, record_id).state == "working"
    assert _transitions(app, record_id) == 2
