"""deposits can fail; provider callbacks are used once

Revision ID: 0020
Revises: 0014
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0020'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deposit_callbacks',
    sa.Column('webhook_id', sa.String(length=255), nullable=False),
    sa.Column('deposit_id', sa.Uuid(), nullable=False),
    sa.Column('received_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_deposit_callbacks_deposit_id_deposits')),
    sa.PrimaryKeyConstraint('webhook_id', name=op.f('pk_deposit_callbacks'))
    )
    with op.batch_alter_table('deposit_callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_callbacks_received_at'), ['received_at'], unique=False)
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deposits_status'), type_='check')
        batch_op.create_check_constraint(
            'status', "status IN ('pending', 'completed', 'expired', 'failed')"
        )


def downgrade() -> None:
    op.execute("UPDATE deposits SET status = 'expired' WHERE status = 'failed'")
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_deposits_status'), type_='check')
        batch_op.create_check_constraint('status', "status IN ('pending', 'completed', 'expired')")
    with op.batch_alter_table('deposit_callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_callbacks_received_at'))
    op.drop_table('deposit_callbacks')
