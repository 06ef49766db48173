"""discovery: indexes for a category's or a seller's listings in each sort order

Revision ID: 0025
Revises: 0023
Create Date: 2026-11-30 07:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0025'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, columns): a page of one category's or one seller's active listings in a sort order
# reads its first rows from the index instead of sorting every match (ADR 0016).
INDEXES = [
    (f"ix_data_listings_{scope}_{sort}", [*columns, sort_column])
    for scope, columns in (("category", ["status", "category"]), ("seller", ["seller_id", "status"]))
    for sort, sort_column in (
        ("price", "price_units"),
        ("freshness", "freshness_at"),
        ("quality", "quality_score"),
    )
]


def upgrade() -> None:
    with op.batch_alter_table('data_listings', schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_listings', schema=None) as batch_op:
        for name, _ in INDEXES:
            batch_op.drop_index(name)
