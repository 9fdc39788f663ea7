"""The Alembic migrations build the whole schema, and the models never drift from them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from crm.extensions import db


def test_models_and_migrations_agree(app):
    """The session database was built by `flask db upgrade`; autogenerate must find nothing to do."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": True, "include_object": _not_test_only}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == [], "models and migrations differ; run `flask db migrate` and review it:\n" + "\n".join(
        map(str, diff)
    )


def _not_test_only(obj, name, type_, reflected, compare_to):
    """Tables the tests create for themselves (e.g. the test workflow) are not part of the schema."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return not (table is not None and table.info.get("test_only"))


def test_upgrade_reaches_head_and_creates_every_table(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate  # noqa: F401  (the extension provides the config)

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        with db.engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        tables = set(inspect(db.engine).get_table_names())
    assert current == head
    assert {t.name for t in db.metadata.sorted_tables if not t.info.get("test_only")} <= tables


def test_downgrade_to_empty_and_up_again(app, tmp_path, database_url):
    """Every migration can be undone, so a bad deploy can be rolled back."""
    from flask_migrate import downgrade, upgrade

    if database_url.startswith("sqlite"):
        scratch = f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        scratch_app = _app_for(scratch)
    else:
        scratch_app = _app_for(_scratch_postgres(database_url))
    with scratch_app.app_context():
        upgrade()
        assert "users" in inspect(db.engine).get_table_names()
        downgrade(revision="base")
        assert "users" not in inspect(db.engine).get_table_names()
        upgrade()
        schema = {t.name for t in db.metadata.sorted_tables if not t.info.get("test_only")}
        assert schema <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def _app_for(url):
    from config import TestConfig
    from crm import create_app

    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)


def _scratch_postgres(url: str) -> str:
    """A second, empty database on the same PostgreSQL server."""
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS crm_migration_scratch"))
        conn.execute(text("CREATE DATABASE crm_migration_scratch"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/crm_migration_scratch"
