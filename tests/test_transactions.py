"""How requests use the database: on PostgreSQL a page reads in a read-only transaction.

A GET that writes is a bug (a link, a prefetch or a crawler would change data);
PostgreSQL refuses it instead of letting it through. Such a transaction ends with
COMMIT rather than ROLLBACK, so psycopg keeps the connection's prepared
statements from one page to the next (see crm/db.py).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import InternalError

from config import TestConfig
from crm import create_app
from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import csrf, db
from crm.screening.models import ScreeningPolicy
from tests.helpers import login, post


@pytest.fixture
def probe(app, database_url):
    """A second app on the same database with two routes of its own (the shared app is already serving)."""
    other = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    other.instance_path = app.instance_path

    @other.route("/probe/rename/<int:user_id>", methods=["GET", "POST"])
    def rename(user_id):
        db.session.execute(update(User).where(User.id == user_id).values(display_name="改过的名字"))
        db.session.commit()
        return "renamed"

    csrf.exempt(rename)  # the probe is not a form

    @other.route("/probe/prepared")
    def prepared():
        return str(db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements")))

    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def display_name(app, user_id):
    with app.app_context():
        return db.session.scalar(select(User.display_name).where(User.id == user_id))


def test_a_page_that_writes_is_refused_and_changes_nothing(app, probe, make_user, dialect):
    if dialect != "postgresql":
        pytest.skip("SQLite has no read-only transactions")
    user_id = make_user(Role.REP).id
    before = display_name(app, user_id)
    with pytest.raises(InternalError, match="read-only transaction"):
        probe.test_client().get(f"/probe/rename/{user_id}")
    assert display_name(app, user_id) == before
    # The same write from a form goes through, and so does code that only borrows a request context.
    assert probe.test_client().post(f"/probe/rename/{user_id}").get_data(as_text=True) == "renamed"
    assert display_name(app, user_id) == "改过的名字"
    with probe.test_request_context(f"/probe/rename/{user_id}"):
        db.session.execute(update(User).where(User.id == user_id).values(display_name="第三个名字"))
        db.session.commit()
    assert display_name(app, user_id) == "第三个名字"


def test_prepared_statements_outlive_the_page_that_made_them(probe, dialect):
    if dialect != "postgresql":
        pytest.skip("prepared statements are psycopg's")
    client = probe.test_client()
    counts = [int(client.get("/probe/prepared").get_data(as_text=True)) for _ in range(8)]
    # psycopg prepares a statement on its sixth run; a ROLLBACK at the end of each page forgot it.
    assert counts[:5] == [0] * 5
    assert counts[-1] >= 1


def test_the_policy_page_shows_the_defaults_without_storing_them(app, make_user):
    admin = make_user(Role.ADMIN)
    client = app.test_client()
    login(client, admin.username)
    page = client.get("/screening/policy").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="pass_threshold"[^>]*value="60"', page)
    with app.app_context():
        assert db.session.get(ScreeningPolicy, 1) is None
    form = {
        "seen_version": "1",
        "weight_capital": "30",
        "weight_resources": "20",
        "weight_logistics": "10",
        "weight_terminals": "25",
        "weight_thinking": "15",
        "pass_threshold": "65",
        "licence_min_days": "90",
    }
    assert post(client, "/screening/policy", form).status_code == 303
    with app.app_context():
        stored = db.session.get(ScreeningPolicy, 1)
        assert (stored.weight_capital, stored.pass_threshold) == (30, 65)
