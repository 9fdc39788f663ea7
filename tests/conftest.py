"""Fixtures: one database per run (SQLite file, or PostgreSQL from TEST_DATABASE_URL),
built by the Alembic migrations, with the territory tree loaded once; every test
starts from empty business tables.

`make test` runs this suite twice: on SQLite, then with TEST_DATABASE_URL set to a
throw-away PostgreSQL cluster (tests/pgcluster.py).
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import delete, insert, inspect, text, update

from config import TestConfig
from crm import create_app
from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.workflow import engine
from crm.workflow.registry import register, unregister
from tests.helpers import gen_user
from tests.workflow.testflow import MACHINE, TestRecord

KEEP_TABLES = {"territories", "alembic_version"}


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'crm-test.sqlite3'}"


def _drop_everything() -> None:
    """Start from an empty schema, whatever an earlier run left behind."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from crm.territories.services import load_territories

    instance = tmp_path_factory.mktemp("instance")
    os.environ["CRM_INSTANCE_DIR"] = str(instance)
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    app.instance_path = str(instance)
    with app.app_context():
        _drop_everything()
        upgrade()
        load_territories()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Empty every business table after each test (territories keep their tree, lose their edits)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        existing = set(inspect(db.engine).get_table_names())
        with db.engine.begin() as conn:
            # users and distributors refer to each other: cut the users' side first.
            if "users" in existing:
                conn.execute(update(db.metadata.tables["users"]).values(company_id=None))
            # The history tables refuse deletes unless the transaction opens the maintenance hatch.
            maintenance = db.metadata.tables["history_maintenance"]
            conn.execute(insert(maintenance).values(reason="test suite: empty the tables"))
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in KEEP_TABLES and table.name in existing and table is not maintenance:
                    conn.execute(delete(table))
            conn.execute(delete(maintenance))
            territories = db.metadata.tables["territories"]
            conn.execute(
                update(territories)
                .where(
                    territories.c.market_tier.is_not(None)
                    | territories.c.is_key_region.is_(True)
                    | territories.c.is_sample_market.is_(True)
                    | (territories.c.version != 1)
                )
                .values(market_tier=None, is_key_region=False, is_sample_market=False, version=1)
            )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """``make_user(Role.REP, territories=["440300"])`` → a UserRef with the default test password."""

    def make(role, **kwargs):
        return gen_user(app, role, **kwargs)

    return make


@pytest.fixture
def dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


# --- the test-only workflow (tests/workflow/testflow.py) ---
@pytest.fixture
def testflow(app):
    """The test workflow's table and registration, for one test."""
    with app.app_context():
        TestRecord.__table__.create(db.engine, checkfirst=True)
    register(TestRecord)
    yield TestRecord
    unregister(MACHINE.name)


def path_to(state: str) -> list[str]:
    path = MACHINE.path_to(state)
    assert path is not None, f"{state} is unreachable"
    return path


def actor_for(event_name: str) -> Role:
    roles = MACHINE.event(event_name).roles
    return Role.REP if Role.REP in roles else sorted(roles)[0]


@pytest.fixture
def drive(app, testflow, make_user):
    """``drive("done")`` → id of a record brought to ``done`` through the engine, as real users would."""
    users = {
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        Role.SERVICE: make_user(Role.SERVICE),
        Role.ADMIN: make_user(Role.ADMIN),
    }

    def drive_to(state: str, territory: str = "440305", summary: str | None = "ok", assignee=Role.REP) -> int:
        with app.app_context():
            record = TestRecord(territory_code=territory, summary=summary)
            record.assignee_id = users[assignee].id if assignee else None
            engine.start(record, db.session.get(User, users[Role.REP].id))
            for event_name in path_to(state):
                actor = db.session.get(User, users[actor_for(event_name)].id)
                comment = "because" if MACHINE.event(event_name).comment_required else None
                engine.apply_event(record, event_name, actor, seen_version=record.version, comment=comment)
            db.session.commit()
            return record.id

    drive_to.users = users
    return drive_to
