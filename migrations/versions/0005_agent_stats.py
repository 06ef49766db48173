"""agent stats

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('agent_stats',
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('sales_paid', sa.Integer(), nullable=False),
    sa.Column('sales_delivered', sa.Integer(), nullable=False),
    sa.Column('sales_completed', sa.Integer(), nullable=False),
    sa.Column('sales_disputed', sa.Integer(), nullable=False),
    sa.Column('purchases', sa.Integer(), nullable=False),
    sa.Column('delivery_ms_total', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('volume_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('composite', sa.Numeric(precision=4, scale=3), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['registered_agents.id'], name=op.f('fk_agent_stats_agent_id_registered_agents')),
    sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agent_stats'))
    )
    with op.batch_alter_table('agent_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_stats_composite'), ['composite'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('agent_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_stats_composite'))

    op.drop_table('agent_stats')

