"""signup bonus budget per day

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('signup_bonus_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('granted_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.CheckConstraint('granted_units >= 0', name=op.f('ck_signup_bonus_days_granted_not_negative')),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_signup_bonus_days'))
    )


def downgrade() -> None:
    op.drop_table('signup_bonus_days')
