"""purchases

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('transactions',
    sa.Column('listing_id', sa.Uuid(), nullable=False),
    sa.Column('buyer_id', sa.Uuid(), nullable=False),
    sa.Column('seller_id', sa.Uuid(), nullable=False),
    sa.Column('amount_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('fee_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payment_method', sa.String(length=10), nullable=False),
    sa.Column('payment_tx_hash', sa.String(length=200), nullable=True),
    sa.Column('content_hash', sa.String(length=71), nullable=False),
    sa.Column('delivered_hash', sa.String(length=71), nullable=True),
    sa.Column('verification_status', sa.String(length=10), nullable=False),
    sa.Column('error_message', sa.String(length=500), nullable=True),
    sa.Column('express', sa.Boolean(), nullable=False),
    sa.Column('initiated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('verified_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('workflow_id', sa.String(length=80), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('payment_pending', 'payment_confirmed', 'delivered', 'completed', 'disputed', 'refunded', 'expired', 'failed')", name=op.f('ck_transactions_status')),
    sa.CheckConstraint('amount_units > 0', name=op.f('ck_transactions_amount_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['registered_agents.id'], name=op.f('fk_transactions_buyer_id_registered_agents')),
    sa.ForeignKeyConstraint(['listing_id'], ['data_listings.id'], name=op.f('fk_transactions_listing_id_data_listings')),
    sa.ForeignKeyConstraint(['seller_id'], ['registered_agents.id'], name=op.f('fk_transactions_seller_id_registered_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_buyer_status', ['buyer_id', 'status'], unique=False)
        batch_op.create_index('ix_transactions_seller_status', ['seller_id', 'status'], unique=False)

    op.create_table('verification_records',
    sa.Column('transaction_id', sa.Uuid(), nullable=False),
    sa.Column('expected_hash', sa.String(length=71), nullable=False),
    sa.Column('actual_hash', sa.String(length=71), nullable=False),
    sa.Column('matched', sa.Boolean(), nullable=False),
    sa.Column('merkle_matched', sa.Boolean(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_verification_records_transaction_id_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_records'))
    )
    with op.batch_alter_table('verification_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_records_transaction_id'), ['transaction_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('verification_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_records_transaction_id'))

    op.drop_table('verification_records')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_seller_status')
        batch_op.drop_index('ix_transactions_buyer_status')

    op.drop_table('transactions')

