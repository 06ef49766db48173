"""listings, proofs, search signals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('search_signals',
    sa.Column('query', sa.String(length=500), nullable=False),
    sa.Column('pattern', sa.String(length=500), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('requester', sa.String(length=80), nullable=False),
    sa.Column('matched_count', sa.Integer(), nullable=False),
    sa.Column('led_to_purchase', sa.Boolean(), nullable=False),
    sa.Column('max_price_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_signals'))
    )
    with op.batch_alter_table('search_signals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_signals_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_signals_pattern'), ['pattern'], unique=False)

    op.create_table('data_listings',
    sa.Column('seller_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('content_hash', sa.String(length=71), nullable=False),
    sa.Column('content_size', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('price_units', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('quality_score', sa.Numeric(precision=4, scale=3), nullable=False),
    sa.Column('freshness_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('access_count', sa.Integer(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("category IN ('web_search', 'code_analysis', 'document_summary', 'api_response', 'computation')", name=op.f('ck_data_listings_category')),
    sa.CheckConstraint("status IN ('active', 'paused', 'delisted')", name=op.f('ck_data_listings_status')),
    sa.CheckConstraint('price_units > 0 AND price_units <= 1000000000', name=op.f('ck_data_listings_price_range')),
    sa.CheckConstraint('quality_score >= 0 AND quality_score <= 1', name=op.f('ck_data_listings_quality_range')),
    sa.ForeignKeyConstraint(['seller_id'], ['registered_agents.id'], name=op.f('fk_data_listings_seller_id_registered_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_listings'))
    )
    with op.batch_alter_table('data_listings', schema=None) as batch_op:
        batch_op.create_index('ix_data_listings_seller', ['seller_id', 'status'], unique=False)
        batch_op.create_index('ix_data_listings_status_category', ['status', 'category'], unique=False)
        batch_op.create_index('ix_data_listings_status_freshness', ['status', 'freshness_at'], unique=False)
        batch_op.create_index('ix_data_listings_status_price', ['status', 'price_units'], unique=False)
        batch_op.create_index('ix_data_listings_status_quality', ['status', 'quality_score'], unique=False)

    op.create_table('zk_proofs',
    sa.Column('listing_id', sa.Uuid(), nullable=False),
    sa.Column('proof_type', sa.String(length=20), nullable=False),
    sa.Column('commitment', sa.String(length=600), nullable=False),
    sa.Column('public_inputs', sa.JSON(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['listing_id'], ['data_listings.id'], name=op.f('fk_zk_proofs_listing_id_data_listings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zk_proofs'))
    )
    with op.batch_alter_table('zk_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zk_proofs_listing_id'), ['listing_id'], unique=False)
    _create_full_text_search()


def _create_full_text_search() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE data_listings ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_data_listings_search ON data_listings USING gin (search_vector)"
        )
        return
    op.execute(
        "CREATE VIRTUAL TABLE listings_fts USING fts5("
        "search_text, content='data_listings', content_rowid='rowid', tokenize='porter unicode61')"
    )
    op.execute(
        "CREATE TRIGGER listings_fts_insert AFTER INSERT ON data_listings BEGIN "
        "INSERT INTO listings_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER listings_fts_delete AFTER DELETE ON data_listings BEGIN "
        "INSERT INTO listings_fts(listings_fts, rowid, search_text) "
        "VALUES ('delete', old.rowid, old.search_text); END"
    )
    op.execute(
        "CREATE TRIGGER listings_fts_update AFTER UPDATE OF search_text ON data_listings BEGIN "
        "INSERT INTO listings_fts(listings_fts, rowid, search_text) "
        "VALUES ('delete', old.rowid, old.search_text); "
        "INSERT INTO listings_fts(rowid, search_text) VALUES (new.rowid, new.search_text); END"
    )


def _drop_full_text_search() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_data_listings_search")
        op.execute("ALTER TABLE data_listings DROP COLUMN IF EXISTS search_vector")
        return
    for trigger in ("listings_fts_insert", "listings_fts_delete", "listings_fts_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS listings_fts")


def downgrade() -> None:
    _drop_full_text_search()

    with op.batch_alter_table('zk_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zk_proofs_listing_id'))

    op.drop_table('zk_proofs')
    with op.batch_alter_table('data_listings', schema=None) as batch_op:
        batch_op.drop_index('ix_data_listings_status_quality')
        batch_op.drop_index('ix_data_listings_status_price')
        batch_op.drop_index('ix_data_listings_status_freshness')
        batch_op.drop_index('ix_data_listings_status_category')
        batch_op.drop_index('ix_data_listings_seller')

    op.drop_table('data_listings')
    with op.batch_alter_table('search_signals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_signals_pattern'))
        batch_op.drop_index(batch_op.f('ix_search_signals_created_at'))

    op.drop_table('search_signals')

