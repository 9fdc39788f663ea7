"""Email (dev outbox and SMTP) and group robots (WeCom, DingTalk), sent by the delivery job."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.common.time import utcnow
from crm.extensions import db
from crm.notify.delivery import deliver_pending
from crm.notify.models import DeliveryStatus, NotificationKind
from crm.workflow.models import WorkflowHistory
from tests.notify.conftest import deliveries, notify, set_user
from tests.workflow.testflow import TestRecord

BREACH = NotificationKind.SLA_BREACH


def deliver(app, now=None):
    with app.app_context():
        return deliver_pending(now=now)


@pytest.fixture
def rep_with_email(app, drive):
    rep = drive.users[Role.REP]
    set_user(app, rep.id, email=f"{rep.username}@example.com")
    return rep


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def test_email_lands_in_the_development_outbox_as_an_eml_file(app, channels, drive, rep_with_email):
    channels(email=True, SMTP_HOST="")
    record = drive("open")
    notify(app, rep_with_email.id, BREACH, record)

    run = deliver(app)

    assert (run.sent, run.failed, run.retried) == (1, 0, 0)
    [delivery] = deliveries(app)
    assert (delivery.channel, delivery.status, delivery.attempts) == ("email", DeliveryStatus.SENT, 1)
    assert delivery.sent_at is not None
    [eml] = (Path(app.instance_path) / "outbox").glob(f"*-notification-{delivery.id}.eml")
    mail = parse(eml.read_bytes())
    assert mail["To"].addresses[0].addr_spec == f"{rep_with_email.username}@example.com"
    assert mail["To"].addresses[0].display_name == f"测试{rep_with_email.username}"
    assert mail["Subject"].startswith("[招商通] ")
    assert f"#{record}（" in mail["Subject"]
    assert "已超时" in mail["Subject"]
    body = mail.get_content()
    assert body.startswith(f"测试{rep_with_email.username}，您好：")
    assert "已超时" in body


def test_a_user_without_email_is_skipped_not_retried(app, channels, drive):
    channels(email=True, SMTP_HOST="")
    rep = drive.users[Role.REP]
    notify(app, rep.id, BREACH, drive("open"))

    run = deliver(app)

    assert run.skipped == 1
    [delivery] = deliveries(app)
    assert delivery.status == DeliveryStatus.SKIPPED
    assert "no email address" in delivery.last_error
    assert not list(Path(app.instance_path).glob("outbox/*.eml"))
    assert deliver(app, utcnow() + timedelta(days=1)).skipped == 0


def test_email_over_smtp(app, channels, drive, rep_with_email, smtp_server):
    channels(
        email=True,
        SMTP_HOST=smtp_server.host,
        SMTP_PORT=smtp_server.port,
        SMTP_STARTTLS=False,
        MAIL_FROM="招商通 <crm@example.com>",
    )
    set_user(app, rep_with_email.id, locale="en")
    record = drive("open")
    notify(app, rep_with_email.id, BREACH, record)

    run = deliver(app)

    assert run.sent == 1
    [message] = smtp_server.messages
    assert message["from"] == "<crm@example.com>"
    assert message["to"] == [f"<{rep_with_email.username}@example.com>"]
    mail = parse(message["data"])
    assert mail["From"].addresses[0].display_name == "招商通"
    # A long subject is folded onto a continuation line; readers drop the fold's leading space.
    assert mail["Subject"].strip().startswith(f"[ZhaoShangTong] Test workflow #{record} (Open) is overdue (due ")
    assert mail.get_content().startswith(f"Hello 测试{rep_with_email.username},")
    assert deliveries(app)[0].status == DeliveryStatus.SENT


def test_an_unreachable_smtp_server_is_retried(app, channels, drive, rep_with_email):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channels(email=True, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_STARTTLS=False)
    notify(app, rep_with_email.id, BREACH, drive("open"))

    assert deliver(app).retried == 1
    [delivery] = deliveries(app)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error.startswith("SMTP 127.0.0.1")


@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
def test_group_robot_gets_a_text_message(app, channels, drive, robot, kind):
    channels(email=False, webhook=robot.url, kind=kind)
    rep = drive.users[Role.REP]
    record = drive("open")
    notify(app, rep.id, BREACH, record)

    assert deliver(app).sent == 1

    [payload] = robot.received
    assert payload["_path"] == "/cgi-bin/webhook/send?key=test"
    assert payload["_content_type"].startswith("application/json")
    content = payload["text"]["content"]
    assert {k: v for k, v in payload.items() if not k.startswith("_")} == {
        "msgtype": "text",
        "text": {"content": content},
    }
    assert content.startswith(f"[招商通] @测试{rep.username} Test workflow #{record}（")
    assert "已超时" in content
    assert deliveries(app)[0].status == DeliveryStatus.SENT


def business_snapshot(app) -> tuple:
    with app.app_context():
        records = db.session.execute(select(TestRecord.__table__).order_by(TestRecord.id)).all()
        history = db.session.scalar(select(func.count()).select_from(WorkflowHistory))
        return [tuple(row) for row in records], history


def test_a_failing_robot_is_retried_with_backoff_then_failed(app, channels, drive, robot, monkeypatch, caplog):
    # Alembic's logging setup in the app fixture disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("crm.notify.delivery"), "disabled", False)
    channels(email=False, webhook=robot.url, kind="wecom", NOTIFY_MAX_ATTEMPTS=3)
    robot.answers = [(500, {}), (200, {"errcode": 310000, "errmsg": "keywords not in content"})]
    notify(app, drive.users[Role.REP].id, BREACH, drive("open"))
    before = business_snapshot(app)
    t0 = utcnow()

    assert deliver(app, t0).retried == 1
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at == t0 + timedelta(minutes=1)
    assert "HTTP 500" in delivery.last_error

    assert deliver(app, t0 + timedelta(seconds=59)).retried == 0  # not due yet
    assert len(robot.received) == 1

    t1 = t0 + timedelta(minutes=1)
    assert deliver(app, t1).retried == 1
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 2)
    assert delivery.next_attempt_at == t1 + timedelta(minutes=2)
    assert "errcode 310000" in delivery.last_error

    t2 = t1 + timedelta(minutes=2)
    assert deliver(app, t2).failed == 1
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert "failed for good after 3 attempts" in caplog.text

    assert deliver(app, t2 + timedelta(days=1)).failed == 0
    assert len(robot.received) == 3
    assert business_snapshot(app) == before


def test_one_failing_channel_does_not_hold_up_another(app, channels, drive, rep_with_email, robot):
    channels(email=True, webhook=robot.url, SMTP_HOST="")
    robot.answers = [(503, {})]
    notify(app, rep_with_email.id, BREACH, drive("open"))

    run = deliver(app)

    assert (run.sent, run.retried) == (1, 1)
    by_channel = {d.channel: d.status for d in deliveries(app)}
    assert by_channel == {"email": DeliveryStatus.SENT, "webhook": DeliveryStatus.PENDING}


def test_a_dead_channel_is_not_hammered_within_one_run(app, channels, drive, robot):
    channels(email=False, webhook=robot.url)
    robot.answers = [(500, {})]
    rep = drive.users[Role.REP]
    for _ in range(6):
        notify(app, rep.id, BREACH)

    run = deliver(app)

    assert (run.retried, run.deferred) == (3, 3)
    assert len(robot.received) == 3
