"""redemptions and payout runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 20:15:47.466387
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payout_runs',
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('creators_paid', sa.Integer(), nullable=False),
    sa.Column('total_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_ids', sa.JSON(), nullable=False),
    sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('period', name=op.f('pk_payout_runs'))
    )
    op.create_table('redemptions',
    sa.Column('creator_id', sa.Uuid(), nullable=False),
    sa.Column('redemption_type', sa.String(length=20), nullable=False),
    sa.Column('amount_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payout_details', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('workflow_id', sa.String(length=120), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=True),
    sa.Column('provider', sa.String(length=20), nullable=True),
    sa.Column('provider_reference', sa.String(length=120), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('completed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'processing', 'completed', 'cancelled', 'rejected', 'failed')", name=op.f('ck_redemptions_status')),
    sa.CheckConstraint('amount_units > 0', name=op.f('ck_redemptions_amount_positive')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_redemptions_creator_id_creators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('creator_id', 'period', name='one_payout_per_month'),
    sa.UniqueConstraint('workflow_id', name=op.f('uq_redemptions_workflow_id'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_creator_created', ['creator_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_creator_created')

    op.drop_table('redemptions')
    op.drop_table('payout_runs')
