"""Orders: discount requests on order lines, decided by a manager other than the requester (four eyes)

One row per request: the line, the agreement price it was ordered at, the price asked
for (below it), the internal reason, and the decision. At most one request per line
waits at a time (a partial unique index on the pending ones).

Revision ID: 0016_order_discounts
Revises: 0015_admin_user_contact
Create Date: 2026-12-07 10:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016_order_discounts"
down_revision = "0015_admin_user_contact"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "order_discounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("list_price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                name="discountstatus",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "unit_price > 0 AND unit_price < list_price", name=op.f("ck_order_discounts_discount_below_list")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_order_discounts_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_discounts_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["order_lines.id"],
            name=op.f("fk_order_discounts_order_line_id_order_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_order_discounts_requested_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_discounts")),
    )
    with op.batch_alter_table("order_discounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_discounts_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_discounts_order_line_id"), ["order_line_id"], unique=False)
        batch_op.create_index(
            "uq_order_discounts_one_pending",
            ["order_line_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade():
    with op.batch_alter_table("order_discounts", schema=None) as batch_op:
        batch_op.drop_index("uq_order_discounts_one_pending")
        batch_op.drop_index(batch_op.f("ix_order_discounts_order_line_id"))
        batch_op.drop_index(batch_op.f("ix_order_discounts_order_id"))
    op.drop_table("order_discounts")
