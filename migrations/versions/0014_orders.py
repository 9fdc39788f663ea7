"""Orders and shipping: lots, orders and lines, shipments with lots and trace codes, invoices, payments

Products gain their 药品标识码 (the first 7 digits of their trace codes) and
whether shipments must list trace codes; agreement lines gain the agreed
unit price that orders take. Stock cannot go below zero (CHECK) and a trace
code is out at most once (partial unique index on the codes not returned).

Revision ID: 0014_orders
Revises: 0013_import_row_choices
Create Date: 2026-12-07 03:20:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0014_orders"
down_revision = "0013_import_row_choices"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('order_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('near_expiry_months', sa.Integer(), server_default='6', nullable=False),
    sa.Column('auto_delivery_days', sa.Integer(), server_default='7', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_policy'))
    )
    op.create_table('lots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('produced_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('quantity_released', sa.Integer(), nullable=False),
    sa.Column('quantity_left', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('expires_on > produced_on', name=op.f('ck_lots_expires_after_production')),
    sa.CheckConstraint('quantity_left <= quantity_released', name=op.f('ck_lots_stock_within_release')),
    sa.CheckConstraint('quantity_left >= 0', name=op.f('ck_lots_stock_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_lots_created_by_id_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_lots_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots')),
    sa.UniqueConstraint('product_id', 'number', name='uq_lots_product_number')
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index('ix_lots_product_expiry', ['product_id', 'expires_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_lots_product_id'), ['product_id'], unique=False)

    op.create_table('distributor_credit',
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('credit_limit', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('payment_days', sa.Integer(), server_default='30', nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint('credit_limit IS NULL OR credit_limit >= 0', name=op.f('ck_distributor_credit_credit_not_negative')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_distributor_credit_distributor_id_distributors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('distributor_id', name=op.f('pk_distributor_credit'))
    )
    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('method', sa.Enum('transfer', 'acceptance', 'cheque', 'other', name='paymentmethod', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payments_payment_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_payments_created_by_id_users')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_payments_distributor_id_distributors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_distributor_id'), ['distributor_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('ship_to_code', sa.String(length=6), nullable=False),
    sa.Column('ship_to_address', sa.String(length=255), nullable=False),
    sa.Column('receiver_name', sa.String(length=64), nullable=False),
    sa.Column('receiver_phone', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('placed_by_id', sa.Integer(), nullable=True),
    sa.Column('held_by_id', sa.Integer(), nullable=True),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('release_asked_by_id', sa.Integer(), nullable=True),
    sa.Column('shipped_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('state_entered_at', sa.DateTime(), nullable=False),
    sa.Column('sla_status', sa.String(length=16), nullable=True),
    sa.Column('sla_due_at', sa.DateTime(), nullable=True),
    sa.Column('sla_warn_at', sa.DateTime(), nullable=True),
    sa.Column('sla_next_check_at', sa.DateTime(), nullable=True),
    sa.Column('sla_remaining_seconds', sa.Integer(), nullable=True),
    sa.Column('sla_paused_state', sa.String(length=32), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_orders_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_orders_assignee_id_users')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_orders_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['held_by_id'], ['users.id'], name=op.f('fk_orders_held_by_id_users')),
    sa.ForeignKeyConstraint(['placed_by_id'], ['users.id'], name=op.f('fk_orders_placed_by_id_users')),
    sa.ForeignKeyConstraint(['release_asked_by_id'], ['users.id'], name=op.f('fk_orders_release_asked_by_id_users')),
    sa.ForeignKeyConstraint(['ship_to_code'], ['territories.code'], name=op.f('fk_orders_ship_to_code_territories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_orders_number'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_orders_distributor_created', ['distributor_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_distributor_id'), ['distributor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_ship_to_code'), ['ship_to_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_sla_next_check_at'), ['sla_next_check_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_state'), ['state'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_invoices_invoice_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invoices_created_by_id_users')),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_invoices_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_invoices_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('number', name=op.f('uq_invoices_number'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_distributor_id'), ['distributor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_order_id'), ['order_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('agreement_line_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=12, scale=4), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('accepts_near_expiry', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('shipped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('received', sa.Integer(), nullable=True),
    sa.Column('receipt_problem', sa.Text(), nullable=True),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
    sa.CheckConstraint('shipped >= 0 AND shipped <= quantity', name=op.f('ck_order_lines_shipped_within_quantity')),
    sa.ForeignKeyConstraint(['agreement_line_id'], ['agreement_lines.id'], name=op.f('fk_order_lines_agreement_line_id_agreement_lines')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=64), nullable=False),
    sa.Column('waybill', sa.String(length=64), nullable=False),
    sa.Column('shipped_on', sa.Date(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_shipments_created_by_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_shipments_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_order_id'), ['order_id'], unique=False)

    op.create_table('shipment_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_shipment_items_item_quantity_positive')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_shipment_items_lot_id_lots')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_shipment_items_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_items_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_items'))
    )
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_items_lot_id'), ['lot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_items_order_line_id'), ['order_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_items_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('shipped_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('shipment_item_id', sa.Integer(), nullable=False),
    sa.Column('distributor_id', sa.Integer(), nullable=False),
    sa.Column('territory_code', sa.String(length=6), nullable=False),
    sa.Column('shipped_at', sa.DateTime(), nullable=False),
    sa.Column('returned_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['distributor_id'], ['distributors.id'], name=op.f('fk_shipped_codes_distributor_id_distributors')),
    sa.ForeignKeyConstraint(['shipment_item_id'], ['shipment_items.id'], name=op.f('fk_shipped_codes_shipment_item_id_shipment_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipped_codes'))
    )
    with op.batch_alter_table('shipped_codes', schema=None) as batch_op:
        batch_op.create_index('ix_shipped_codes_code', ['code'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipped_codes_shipment_item_id'), ['shipment_item_id'], unique=False)
        batch_op.create_index('uq_shipped_codes_out_once', ['code'], unique=True, sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))

    with op.batch_alter_table('agreement_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_price', sa.Numeric(precision=12, scale=4), nullable=True))

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drug_code', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('requires_trace_codes', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_products_drug_code'), ['drug_code'])



def downgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_products_drug_code'), type_='unique')
        batch_op.drop_column('requires_trace_codes')
        batch_op.drop_column('drug_code')

    with op.batch_alter_table('agreement_lines', schema=None) as batch_op:
        batch_op.drop_column('unit_price')

    with op.batch_alter_table('shipped_codes', schema=None) as batch_op:
        batch_op.drop_index('uq_shipped_codes_out_once', sqlite_where=sa.text('returned_at IS NULL'), postgresql_where=sa.text('returned_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_shipped_codes_shipment_item_id'))
        batch_op.drop_index('ix_shipped_codes_code')

    op.drop_table('shipped_codes')
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_items_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_items_order_line_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_items_lot_id'))

    op.drop_table('shipment_items')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_order_id'))

    op.drop_table('shipments')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_order_id'))
        batch_op.drop_index(batch_op.f('ix_invoices_due_on'))
        batch_op.drop_index(batch_op.f('ix_invoices_distributor_id'))

    op.drop_table('invoices')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_state'))
        batch_op.drop_index(batch_op.f('ix_orders_sla_next_check_at'))
        batch_op.drop_index(batch_op.f('ix_orders_ship_to_code'))
        batch_op.drop_index(batch_op.f('ix_orders_distributor_id'))
        batch_op.drop_index('ix_orders_distributor_created')
        batch_op.drop_index(batch_op.f('ix_orders_created_at'))
        batch_op.drop_index(batch_op.f('ix_orders_assignee_id'))
        batch_op.drop_index(batch_op.f('ix_orders_agreement_id'))

    op.drop_table('orders')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_distributor_id'))

    op.drop_table('payments')
    op.drop_table('distributor_credit')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lots_product_id'))
        batch_op.drop_index('ix_lots_product_expiry')

    op.drop_table('lots')
    op.drop_table('order_policy')
