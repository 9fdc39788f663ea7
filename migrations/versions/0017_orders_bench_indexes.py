"""Orders: indexes for the order desk's queue and the portal's list, sorted by deadline

The order list reads the page's ids from an index alone (state or distributor,
then state and deadline), sorts them and loads only those rows: at a million
orders, joining and sorting every match before keeping 50 was most of the page.
The distributor's index also answers the portal's counts per state.

Revision ID: 0017_orders_bench_indexes
Revises: 0016_order_discounts
Create Date: 2026-12-07 10:10:00

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0017_orders_bench_indexes"
down_revision = "0016_order_discounts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_state_due", ["state", "sla_due_at"], unique=False)
        batch_op.create_index("ix_orders_distributor_state_due", ["distributor_id", "state", "sla_due_at"], unique=False)


def downgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_distributor_state_due")
        batch_op.drop_index("ix_orders_state_due")
