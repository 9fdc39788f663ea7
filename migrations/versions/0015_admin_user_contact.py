"""Admin: a user's mobile and the must-change-password flag; years whose holiday plan is complete

Users gain a mobile number (E.164) next to their email, and a flag that an admin
sets when creating an account or resetting its password, forcing a new password
at the next sign-in. ``holiday_years`` holds the years an admin marked complete:
only those count as entered for the "holidays not entered" warning.

Revision ID: 0015_admin_user_contact
Revises: 0014_orders
Create Date: 2026-12-07 07:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015_admin_user_contact"
down_revision = "0014_orders"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mobile", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "holiday_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=False),
        sa.Column("completed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["completed_by_id"], ["users.id"], name=op.f("fk_holiday_years_completed_by_id_users")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_holiday_years")),
    )


def downgrade():
    op.drop_table("holiday_years")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("mobile")
