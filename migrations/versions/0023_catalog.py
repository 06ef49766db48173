"""the capability catalog, its subscriptions, and round-robin route cursors

Revision ID: 0023
Revises: 0021
Create Date: 2026-11-30 06:57:33
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0023'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('route_cursors',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_route_cursors'))
    )
    op.create_table('data_catalog',
    sa.Column('agent_id', sa.Uuid(), nullable=False),
    sa.Column('namespace', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('schema_json', sa.JSON(), nullable=False),
    sa.Column('price_range_min_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('price_range_max_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quality_avg', sa.Numeric(precision=4, scale=3), nullable=False),
    sa.Column('active_listings_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_data_catalog_status')),
    sa.CheckConstraint('price_range_min_units >= 0 AND price_range_min_units <= price_range_max_units', name=op.f('ck_data_catalog_price_range')),
    sa.ForeignKeyConstraint(['agent_id'], ['registered_agents.id'], name=op.f('fk_data_catalog_agent_id_registered_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_catalog'))
    )
    with op.batch_alter_table('data_catalog', schema=None) as batch_op:
        batch_op.create_index('ix_data_catalog_agent_status', ['agent_id', 'status'], unique=False)
        batch_op.create_index('ix_data_catalog_status_namespace', ['status', 'namespace'], unique=False)

    op.create_table('catalog_subscriptions',
    sa.Column('subscriber_id', sa.Uuid(), nullable=False),
    sa.Column('namespace_pattern', sa.String(length=200), nullable=False),
    sa.Column('topic_pattern', sa.String(length=200), nullable=False),
    sa.Column('namespace_like', sa.String(length=400), nullable=True),
    sa.Column('topic_like', sa.String(length=400), nullable=True),
    sa.Column('category_filter', sa.String(length=32), nullable=True),
    sa.Column('max_price_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('min_quality', sa.Numeric(precision=4, scale=3), nullable=True),
    sa.Column('notify_via', sa.String(length=10), nullable=False),
    sa.Column('webhook_endpoint_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("notify_via IN ('websocket', 'webhook')", name=op.f('ck_catalog_subscriptions_notify_via')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['registered_agents.id'], name=op.f('fk_catalog_subscriptions_subscriber_id_registered_agents')),
    sa.ForeignKeyConstraint(['webhook_endpoint_id'], ['webhook_endpoints.id'], name=op.f('fk_catalog_subscriptions_webhook_endpoint_id_webhook_endpoints'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_subscriptions'))
    )
    with op.batch_alter_table('catalog_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_catalog_subscriptions_subscriber', ['subscriber_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('catalog_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_catalog_subscriptions_subscriber')

    op.drop_table('catalog_subscriptions')
    with op.batch_alter_table('data_catalog', schema=None) as batch_op:
        batch_op.drop_index('ix_data_catalog_status_namespace')
        batch_op.drop_index('ix_data_catalog_agent_status')

    op.drop_table('data_catalog')
    op.drop_table('route_cursors')
