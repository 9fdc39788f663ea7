"""A notification reads in its reader's language: Chinese by default, English on request."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.notify.models import Notification, NotificationKind
from crm.notify.rendering import outgoing_message, text_for
from tests.helpers import login
from tests.notify.conftest import notify, set_user
from tests.workflow.testflow import MACHINE, TestRecord


def labels(locale: str, state: str) -> tuple[str, str]:
    with force_locale(locale):
        return str(MACHINE.label), str(MACHINE.state(state).label)


def beijing(value) -> str:
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def render(app, user_id: int, notification_id: int) -> str:
    with app.app_context():
        user = db.session.get(User, user_id)
        note = db.session.get(Notification, notification_id)
        return text_for(user, note)


@pytest.fixture
def open_record(app, drive):
    record_id = drive("open")
    with app.app_context():
        due = db.session.scalar(select(TestRecord.sla_due_at).where(TestRecord.id == record_id))
    rep = drive.users[Role.REP]
    return record_id, beijing(due), rep


def test_warning_in_chinese_by_default(app, open_record):
    record_id, due, rep = open_record
    note = notify(app, rep.id, NotificationKind.SLA_WARNING, record_id)
    with app.app_context():
        workflow, state = labels("zh_CN", "open")
    assert render(app, rep.id, note) == f"{workflow} #{record_id}（{state}）将在 {due} 到期"


def test_warning_in_english_for_an_english_reader(app, open_record):
    record_id, due, rep = open_record
    set_user(app, rep.id, locale="en")
    note = notify(app, rep.id, NotificationKind.SLA_WARNING, record_id)
    assert render(app, rep.id, note) == f"Test workflow #{record_id} (Open) is due at {due}"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh_CN", "{record}已超时（{due} 到期）"),
        ("en", "{record} is overdue (due {due})"),
    ],
)
def test_breach(app, open_record, locale, expected):
    record_id, due, rep = open_record
    set_user(app, rep.id, locale=locale)
    note = notify(app, rep.id, NotificationKind.SLA_BREACH, record_id)
    with app.app_context():
        workflow, state = labels(locale, "open")
    record = f"{workflow} #{record_id}（{state}）" if locale == "zh_CN" else f"{workflow} #{record_id} ({state})"
    assert render(app, rep.id, note) == expected.format(record=record, due=due)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("zh_CN", "已超时，负责人：{assignee}"), ("en", "is overdue; assigned to {assignee}")],
)
def test_escalation_names_the_assignee(app, drive, open_record, locale, expected):
    record_id, _due, rep = open_record
    manager = drive.users[Role.MANAGER]
    set_user(app, manager.id, locale=locale)
    note = notify(app, manager.id, NotificationKind.SLA_ESCALATION, record_id)
    assert render(app, manager.id, note).endswith(expected.format(assignee=f"测试{rep.username}"))


def test_a_record_that_moved_on_drops_the_old_deadline(app, drive, open_record):
    record_id, _due, rep = open_record
    note = notify(app, rep.id, NotificationKind.SLA_WARNING, record_id, state="done")  # the record is in "open"
    assert render(app, rep.id, note).endswith("即将到期")


def test_the_inbox_shows_each_reader_their_language(app, client, open_record):
    record_id, due, rep = open_record
    notify(app, rep.id, NotificationKind.SLA_WARNING, record_id)
    login(client, rep)
    assert f"将在 {due} 到期" in client.get("/notifications").get_data(as_text=True)

    set_user(app, rep.id, locale="en")
    assert f"is due at {due}" in client.get("/notifications").get_data(as_text=True)


def test_mail_and_robot_text_carry_links_when_the_site_address_is_known(app, open_record, monkeypatch):
    record_id, _due, rep = open_record
    monkeypatch.setitem(app.config, "NOTIFY_BASE_URL", "https://crm.example.com")
    note = notify(app, rep.id, NotificationKind.SLA_BREACH, record_id)
    with app.app_context():
        message = outgoing_message(db.session.get(User, rep.id), db.session.get(Notification, note))
    link = f"https://crm.example.com/workflows/testflow/{record_id}"
    assert message.subject.startswith("[招商通] ")
    assert f"查看记录：{link}" in message.email_body
    assert "https://crm.example.com/notifications" in message.email_body
    assert message.robot_text.startswith(f"[招商通] @测试{rep.username} ")
    assert message.robot_text.endswith(link)
