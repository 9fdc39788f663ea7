"""Duplicate warnings outside a user's territories tell the covering managers, once per pair

A rep who entered another territory's phone or company name was shown the other
lead's id, state and matching fields. Now they are told only that a look-alike
exists elsewhere, and the managers covering it get one notification per
(existing lead, user) pair; this table remembers the pairs already told.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:40:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "duplicate_alerts",
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_duplicate_alerts_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_duplicate_alerts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("lead_id", "user_id", name=op.f("pk_duplicate_alerts")),
    )


def downgrade():
    op.drop_table("duplicate_alerts")
