"""webhook endpoints, deliveries and the dispatcher cursor

Revision ID: 0015
Revises: 0020
Create Date: 2026-11-30 04:06:33
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0015'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    cursor = op.create_table('webhook_cursor',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_webhook_cursor'))
    )
    # The dispatcher starts at the beginning of the outbox (endpoints receive only events newer
    # than themselves, so nothing older is sent).
    op.bulk_insert(cursor, [{'name': 'dispatch', 'txid': 0, 'sequence': 0, 'updated_at': datetime.now(UTC)}])
    op.create_table('webhook_endpoints',
    sa.Column('owner_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=1024), nullable=False),
    sa.Column('previous_secret', sa.String(length=1024), nullable=True),
    sa.Column('previous_secret_until', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('paused_reason', sa.String(length=300), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('awake', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('seller', 'openclaw')", name=op.f('ck_webhook_endpoints_kind')),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_webhook_endpoints_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['registered_agents.id'], name=op.f('fk_webhook_endpoints_owner_id_registered_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_endpoints_owner_kind', ['owner_id', 'kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_endpoints_status'), ['status'], unique=False)

    op.create_table('webhook_deliveries',
    sa.Column('endpoint_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_webhook_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('endpoint_id', 'event_id', name='one_delivery_per_event')
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_due', ['endpoint_id', 'status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_endpoint_created', ['endpoint_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_endpoint_created')
        batch_op.drop_index('ix_webhook_deliveries_due')

    op.drop_table('webhook_deliveries')
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_endpoints_status'))
        batch_op.drop_index('ix_webhook_endpoints_owner_kind')

    op.drop_table('webhook_endpoints')
    op.drop_table('webhook_cursor')
