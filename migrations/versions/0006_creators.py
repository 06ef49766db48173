"""creators: accounts, login throttle, and the owning creator of each agent

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('creator_login_throttles',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('attempts', sa.JSON(), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_creator_login_throttles'))
    )
    with op.batch_alter_table('creator_login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_creator_login_throttles_updated_at'), ['updated_at'], unique=False)

    op.create_table('creators',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('payout_method', sa.String(length=20), nullable=True),
    sa.Column('payout_details', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("payout_method IS NULL OR payout_method IN ('api_credits', 'gift_card', 'bank_withdrawal', 'upi')", name=op.f('ck_creators_payout_method')),
    sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f('ck_creators_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creators')),
    sa.UniqueConstraint('email', name=op.f('uq_creators_email'))
    )
    # SQLite cannot add a foreign key in place: batch mode rebuilds the table there.
    with op.batch_alter_table('registered_agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('creator_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_registered_agents_creator_id'), ['creator_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_registered_agents_creator_id_creators'), 'creators', ['creator_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('registered_agents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_registered_agents_creator_id_creators'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_registered_agents_creator_id'))
        batch_op.drop_column('creator_id')

    op.drop_table('creators')
    with op.batch_alter_table('creator_login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_creator_login_throttles_updated_at'))

    op.drop_table('creator_login_throttles')
