"""Index leads by SLA status; store the screening policy's default row

The SLA filter of the lead list ("overdue", "due soon") matches a few leads among
many and read every lead of the user's territories without an index (330 ms over
200,000 leads on SQLite). Pages now read in read-only transactions on PostgreSQL,
so the policy row is no longer created by the first page that reads it: a new
database gets it here, with the defaults of crm.screening.models.ScreeningPolicy.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:40:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_sla_status", ["sla_status"], unique=False)
    op.execute(
        "INSERT INTO screening_policy (id, weight_capital, weight_resources, weight_logistics, weight_terminals,"
        " weight_thinking, pass_threshold, licence_min_days, version)"
        " SELECT 1, 25, 20, 15, 25, 15, 60, 90, 1"
        " WHERE NOT EXISTS (SELECT 1 FROM screening_policy WHERE id = 1)"
    )


def downgrade():
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_sla_status")
