"""The delivery job under concurrency, and its place in the scheduler."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

from crm.access.roles import Role
from crm.notify import delivery
from crm.notify.delivery import deliver_pending, retry_delay
from crm.notify.models import DeliveryStatus, NotificationKind
from crm.scheduler import build_scheduler
from tests.notify.conftest import deliveries, notify


def test_backoff_doubles_from_one_minute():
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]


def test_two_jobs_at_once_send_each_message_once(app, channels, drive, robot, monkeypatch):
    channels(email=False, webhook=robot.url)
    rep = drive.users[Role.REP]
    records = [drive("open") for _ in range(8)]
    for record in records:
        notify(app, rep.id, NotificationKind.SLA_BREACH, record)

    # Both jobs read the same due rows before either claims one: the worst interleaving.
    both_read = threading.Barrier(2, timeout=10)
    read_due = delivery._due

    def due_then_wait(now, limit):
        rows = read_due(now, limit)
        both_read.wait()
        return rows

    monkeypatch.setattr(delivery, "_due", due_then_wait)
    runs, errors = [], []

    def job():
        try:
            with app.app_context():
                runs.append(deliver_pending())
        except Exception as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    assert sum(run.sent for run in runs) == len(records)
    assert sum(run.taken_by_other_job for run in runs) == len(records)
    sent_texts = Counter(payload["text"]["content"] for payload in robot.received)
    assert len(sent_texts) == len(records)
    assert set(sent_texts.values()) == {1}
    assert {(d.status, d.attempts) for d in deliveries(app)} == {(DeliveryStatus.SENT, 1)}


def test_the_scheduler_runs_the_delivery_job(app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFY_DELIVERY_SECONDS", 30)
    job = build_scheduler(app).get_job("deliver_notifications")
    assert job is not None
    assert job.trigger.interval == timedelta(seconds=30)
