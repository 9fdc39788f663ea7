"""The database itself refuses to change or delete workflow history and audit events

Until now only the ORM refused (a before_update/before_delete hook), which a bulk
UPDATE or a console session passes by. Triggers on both databases now refuse any
UPDATE or DELETE (and on PostgreSQL TRUNCATE) of workflow_history and
audit_events, unless the same transaction holds a row in history_maintenance
(see crm.workflow.models).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 10:05:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("workflow_history", "audit_events")

POSTGRESQL_FUNCTION = """
CREATE FUNCTION crm_refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM history_maintenance) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;  -- NULL for TRUNCATE, which ignores it
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$
"""


def upgrade():
    op.create_table(
        "history_maintenance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_maintenance")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION crm_refuse_history_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_history_change()"
            )
    else:
        for table in TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{operation.lower()} BEFORE {operation} ON {table} "
                    "WHEN NOT EXISTS (SELECT 1 FROM history_maintenance) "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION crm_refuse_history_change()")
    else:
        for table in TABLES:
            for operation in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_append_only_{operation}")
    op.drop_table("history_maintenance")
