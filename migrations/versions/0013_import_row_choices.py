"""Lead import: what to do with each flagged row (skip, new lead, add as contact), chosen on the preview

Revision ID: 0013_import_row_choices
Revises: 0012
Create Date: 2026-12-07 03:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013_import_row_choices"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lead_imports") as batch:
        batch.add_column(sa.Column("choices_json", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("lead_imports") as batch:
        batch.drop_column("choices_json")
