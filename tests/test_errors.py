"""Errors a user can meet get a page in their language, with the right status, never a stack trace."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from config import TestConfig
from crm import create_app
from crm.access.roles import Role
from crm.common.errors import Conflict
from crm.extensions import db
from crm.leads.models import Lead
from tests.helpers import login, post


@pytest.fixture
def failing_app(database_url):
    """The real app plus two routes that fail the way code can: a bug and a stale write."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, PROPAGATE_EXCEPTIONS=False)

    @app.route("/__boom")
    def boom():
        raise RuntimeError("a bug the user must not see")

    @app.route("/__stale")
    def stale():
        raise Conflict("这条记录已被他人修改，请刷新页面后重试。")

    return app


@pytest.mark.parametrize(
    ("path", "status", "chinese", "english"),
    [
        ("/__boom", 500, "系统出错了", "Something went wrong on our side"),
        ("/__stale", 409, "该记录已被他人修改", "This record was changed by someone else"),
        ("/no/such/page", 404, "页面不存在", "Page not found"),
        ("/admin/users", 403, "您无权访问此页面", "You do not have access to this page"),
    ],
)
def test_error_pages_in_both_languages(failing_app, make_user, path, status, chinese, english):
    client = failing_app.test_client()
    login(client, make_user(Role.REP, territories=["440300"]))
    page = client.get(path)
    text = page.get_data(as_text=True)
    assert page.status_code == status
    assert chinese in text
    assert "Traceback" not in text
    assert "a bug the user must not see" not in text

    post(client, "/language", {"locale": "en"})
    assert english in client.get(path).get_data(as_text=True)


def test_wrong_method_gets_a_page_not_a_stack(client, make_user):
    login(client, make_user(Role.REP, territories=["440300"]))
    response = client.get("/auth/logout")
    assert response.status_code == 405
    assert 'data-status="405"' in response.get_data(as_text=True)


def test_a_body_over_the_upload_limit_is_refused_before_it_is_read(app, client, make_user):
    login(client, make_user(Role.REP, territories=["440300"]))
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/leads/new", data=too_big, content_type="application/octet-stream")
    assert response.status_code == 413
    assert 'data-status="413"' in response.get_data(as_text=True)


def test_a_nul_character_is_refused_with_a_message_and_nothing_is_saved(app, client, make_user):
    login(client, make_user(Role.REP, territories=["440300"]))
    response = client.get("/leads/?q=%00")
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    response = post(client, "/leads/new", {"company_name": "深圳\x00南山医药", "territory_code": "440305"})
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
