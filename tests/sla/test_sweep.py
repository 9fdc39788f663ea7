"""The SLA sweep: each warning and breach flagged, notified and escalated exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from crm.access.roles import Role
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify.models import Notification
from crm.sla.sweep import sweep
from tests.workflow.testflow import TestRecord

ROOT = Path(__file__).resolve().parents[2]


def _notifications(app) -> Counter:
    """What the sweep sent (the engine's own transition notices are not counted)."""
    with app.app_context():
        rows = db.session.execute(
            select(Notification.user_id, Notification.kind, Notification.record_id).where(
                Notification.kind.like("sla_%")
            )
        ).all()
    return Counter((r.user_id, r.kind, r.record_id) for r in rows)


def _record(app, record_id):
    with app.app_context():
        return db.session.get(TestRecord, record_id)


def test_warning_then_breach_each_once_with_escalation(app, drive, make_user):
    other_manager = make_user(Role.MANAGER, territories=["330000"])  # Zhejiang: not responsible
    record_id = drive("open")  # 南山区, assigned to the rep
    record = _record(app, record_id)
    rep, manager = drive.users[Role.REP], drive.users[Role.MANAGER]

    with app.app_context():
        assert sweep(now=record.sla_warn_at - timedelta(seconds=1)).flagged == 0
        warned = sweep(now=record.sla_warn_at)
        again = sweep(now=record.sla_warn_at + timedelta(seconds=30))
    assert warned.warnings["testflow"] == 1
    assert again.flagged == 0
    assert _record(app, record_id).sla_status == "warning"
    assert _notifications(app) == Counter({(rep.id, "sla_warning", record_id): 1})

    with app.app_context():
        breached = sweep(now=record.sla_due_at)
        sweep(now=record.sla_due_at + timedelta(days=3))
    assert breached.breaches["testflow"] == 1
    assert _record(app, record_id).sla_status == "breached"
    assert _record(app, record_id).sla_next_check_at is None
    assert _notifications(app) == Counter(
        {
            (rep.id, "sla_warning", record_id): 1,
            (rep.id, "sla_breach", record_id): 1,
            (manager.id, "sla_escalation", record_id): 1,
        }
    )
    assert other_manager.id not in {user for user, _kind, _record_id in _notifications(app)}


def test_a_record_past_due_when_first_swept_is_breached_not_warned(app, drive):
    record_id = drive("open")
    with app.app_context():
        result = sweep(now=utcnow() + timedelta(days=30))
    assert result.breaches["testflow"] == 1
    assert result.warnings["testflow"] == 0
    kinds = {kind for _user, kind, _record_id in _notifications(app)}
    assert kinds == {"sla_breach", "sla_escalation"}
    assert _record(app, record_id).sla_status == "breached"


def test_breach_escalates_to_the_role_the_rule_names(app, drive):
    record_id = drive("done")  # the "done" SLA escalates to customer service
    with app.app_context():
        sweep(now=utcnow() + timedelta(days=30))
    service = drive.users[Role.SERVICE]
    assert _notifications(app)[(service.id, "sla_escalation", record_id)] == 1
    assert drive.users[Role.MANAGER].id not in {u for u, _k, _r in _notifications(app)}


def test_paused_final_and_unassigned_records(app, drive):
    paused = drive("waiting")
    closed = drive("closed")
    unassigned = drive("open", assignee=None)
    with app.app_context():
        result = sweep(now=utcnow() + timedelta(days=30))
    assert result.breaches["testflow"] == 1  # only the open one
    assert _record(app, paused).sla_status == "paused"
    assert _record(app, closed).sla_status == "met"  # closed within the deadline; nothing pending
    notes = _notifications(app)
    assert all(record_id == unassigned for _u, _k, record_id in notes)
    assert {kind for _u, kind, _r in notes} == {"sla_escalation"}  # nobody to remind, the manager hears


def test_idle_sweep_changes_nothing(app, drive):
    drive("open")
    with app.app_context():
        assert sweep().flagged == 0
        assert sweep().notifications == 0


SWEEPER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from config import TestConfig
    from crm import create_app
    from crm.sla.sweep import sweep
    from crm.workflow.registry import register
    from tests.workflow.testflow import TestRecord

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=sys.argv[1])
    register(TestRecord)
    with app.app_context():
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
        result = sweep(now=datetime.fromisoformat(sys.argv[3]))
        print(result.flagged, result.notifications, result.locked_out)
    """
)


def test_two_sweep_processes_at_once_flag_and_notify_each_breach_once(app, drive, database_url, tmp_path):
    records = [drive("open") for _ in range(12)]
    now = (utcnow() + timedelta(days=30)).isoformat()
    start_at = str(time.time() + 4)  # both processes sweep at this instant
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_INSTANCE_DIR": str(tmp_path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEPER, database_url, start_at, now],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _out, err in outputs]
    flagged = [int(out.split()[0]) for out, _err in outputs]
    assert sorted(flagged) == [0, len(records)]  # one process did the work, the other found none

    notes = _notifications(app)
    assert set(notes.values()) == {1}  # nothing twice
    rep, manager = drive.users[Role.REP].id, drive.users[Role.MANAGER].id
    assert set(notes) == {(rep, "sla_breach", r) for r in records} | {(manager, "sla_escalation", r) for r in records}
