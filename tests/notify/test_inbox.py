"""The inbox: own notifications only, newest first, unread highlighted, the count in the navbar."""

from __future__ import annotations

import re

import pytest
from flask_login import login_user
from sqlalchemy import select

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.notify.models import Notification, NotificationKind
from crm.notify.services import mark_all_read, queue, remember_unread_count
from crm.notify.views import unread_notifications
from tests.helpers import counted_queries, login, post, statements_of_page
from tests.notify.conftest import notify

WARNING, BREACH = NotificationKind.SLA_WARNING, NotificationKind.SLA_BREACH


def read_at(app, notification_id: int):
    with app.app_context():
        return db.session.scalar(select(Notification.read_at).where(Notification.id == notification_id))


def badge(html: str) -> str | None:
    match = re.search(r'data-testid="unread-count"[^>]*>([^<]+)<', html)
    return match.group(1) if match else None


@pytest.fixture
def rep(drive):
    return drive.users[Role.REP]


def test_inbox_lists_own_notifications_newest_first_with_links(app, client, drive, rep, make_user):
    first = drive("open")
    second = drive("working")
    older = notify(app, rep.id, WARNING, first)
    newer = notify(app, rep.id, BREACH, second, state="working")
    notify(app, make_user(Role.REP).id, BREACH, first)  # someone else's
    login(client, rep)

    html = client.get("/notifications").get_data(as_text=True)

    ids = [int(i) for i in re.findall(r'data-notification="(\d+)"', html)]
    assert ids == [newer, older]
    assert html.count("data-unread") == 2
    assert f"/workflows/testflow/{first}" in html
    assert f"/workflows/testflow/{second}" in html
    assert badge(html) == "2"


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_every_role_has_an_inbox_with_the_unread_count_in_the_navbar(app, client, make_user, role):
    user = make_user(role, territories=["440300"] if role in (Role.REP, Role.MANAGER) else ())
    notify(app, user.id, WARNING)
    notify(app, user.id, WARNING)
    login(client, user)

    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="inbox-link"' in home
    assert badge(home) == "2"
    assert client.get("/notifications").status_code == 200


def test_no_badge_without_unread_notifications(app, client, make_user):
    user = make_user(Role.SERVICE)
    login(client, user)
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="inbox-link"' in home
    assert badge(home) is None


def test_mark_one_read_then_follow_next(app, client, drive, rep):
    record = drive("open")
    note = notify(app, rep.id, WARNING, record)
    other = notify(app, rep.id, WARNING, record)
    login(client, rep)

    response = post(client, "/notifications/read", {"notification_id": note, "next": f"/workflows/testflow/{record}"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/workflows/testflow/{record}"
    assert read_at(app, note) is not None
    assert read_at(app, other) is None
    html = client.get("/notifications").get_data(as_text=True)
    assert html.count("data-unread") == 1
    assert badge(html) == "1"


def test_mark_read_never_redirects_off_site(app, client, make_user):
    user = make_user(Role.SERVICE)
    note = notify(app, user.id, WARNING)
    login(client, user)
    response = post(client, "/notifications/read", {"notification_id": note, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/notifications"


def test_mark_all_read(app, client, make_user):
    user, other = make_user(Role.SERVICE), make_user(Role.SERVICE)
    mine = [notify(app, user.id, WARNING) for _ in range(3)]
    theirs = notify(app, other.id, WARNING)
    login(client, user)

    response = post(client, "/notifications/read-all")

    assert response.status_code == 303
    assert all(read_at(app, n) is not None for n in mine)
    assert read_at(app, theirs) is None
    assert badge(client.get("/").get_data(as_text=True)) is None


@pytest.mark.parametrize("notification_id", ["other", "missing", "garbled", ""])
def test_someone_elses_or_no_notification_answers_404(app, client, make_user, notification_id):
    user, other = make_user(Role.REP), make_user(Role.REP)
    theirs = notify(app, other.id, WARNING)
    value = {"other": theirs, "missing": theirs + 1000, "garbled": "1 OR 1=1", "": ""}[notification_id]
    login(client, user)

    assert post(client, "/notifications/read", {"notification_id": value}).status_code == 404
    assert read_at(app, theirs) is None


def test_the_inbox_is_paginated(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 5)
    user = make_user(Role.SERVICE)
    ids = [notify(app, user.id, WARNING) for _ in range(7)]
    login(client, user)

    first = client.get("/notifications").get_data(as_text=True)
    second = client.get("/notifications?page=2").get_data(as_text=True)

    assert [int(i) for i in re.findall(r'data-notification="(\d+)"', first)] == ids[::-1][:5]
    assert [int(i) for i in re.findall(r'data-notification="(\d+)"', second)] == ids[::-1][5:]


def test_the_list_page_costs_the_same_queries_for_2_or_20_notifications(app, client, drive, rep):
    records = [drive("open") for _ in range(2)]
    for record in records:
        notify(app, rep.id, WARNING, record)
    login(client, rep)
    few = statements_of_page(app, client, "/notifications")

    records = [drive("open") for _ in range(18)]
    for record in records:
        notify(app, rep.id, BREACH, record)
    many = statements_of_page(app, client, "/notifications")

    assert len(many) == len(few)
    assert "共 20 条" in client.get("/notifications").get_data(as_text=True)


def test_the_navbar_count_is_one_query_per_page(app, client, make_user):
    user = make_user(Role.SERVICE)
    notify(app, user.id, WARNING)
    login(client, user)
    statements = statements_of_page(app, client, "/")
    assert len([s for s in statements if "FROM notifications" in s]) == 1


def test_the_badge_is_read_with_the_signed_in_user_in_one_query(app, client, make_user):
    user = make_user(Role.SERVICE)
    notify(app, user.id, WARNING)
    notify(app, user.id, WARNING)
    login(client, user)
    client.get("/")

    with counted_queries(app) as statements:
        html = client.get("/").get_data(as_text=True)

    assert badge(html) == "2"
    reading_notifications = [s for s in statements if "notifications" in s]
    assert len(reading_notifications) == 1
    assert "FROM users" in reading_notifications[0]


def test_a_change_to_notifications_in_the_request_is_counted_on_its_page(app, make_user):
    """The loader counts at the start of the request; queueing or reading later forgets that count."""
    user = make_user(Role.SERVICE)
    notify(app, user.id, WARNING)
    with app.test_request_context():
        login_user(db.session.get(User, user.id))
        remember_unread_count(1)
        assert unread_notifications() == 1
        queue(user.id, WARNING)
        assert unread_notifications() == 2
        mark_all_read(user.id)
        assert unread_notifications() == 0
