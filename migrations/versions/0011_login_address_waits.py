"""An address that failed too often waits between password checks instead of being locked out

Twenty failed sign-ins from one address used to refuse every account from it for
the window: behind one NAT, one guesser locked out a whole office. The address
now has a next-check time (see crm.auth.services.authenticate), one row per
address, taken atomically by the worker that checks.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_address_waits",
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("next_check_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_login_address_waits")),
    )


def downgrade():
    op.drop_table("login_address_waits")
