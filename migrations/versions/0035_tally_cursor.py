"""the tally's outbox cursor: counters follow closed purchases from their events (ADR 0038)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01

Until now a purchase's closing unit of work folded it into reputation and trade counters
itself; from now on the tally does, reading the closing events after its cursor. The cursor
starts after the newest event, so no purchase closed before this migration is counted twice.
Run it with the old processes stopped, as every migration.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from models.base import UTCDateTime

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    newest = op.get_bind().execute(
        sa.text(
            "SELECT coalesce(txid, 0), sequence FROM events"
            " ORDER BY coalesce(txid, 0) DESC, sequence DESC LIMIT 1"
        )
    ).first()
    txid, sequence = (int(newest[0]), int(newest[1])) if newest else (0, 0)
    cursor = sa.table(
        "webhook_cursor",
        sa.column("name", sa.String),
        sa.column("txid", sa.BigInteger),
        sa.column("sequence", sa.BigInteger),
        sa.column("updated_at", UTCDateTime(timezone=True)),
    )
    row = {"name": "tally", "txid": txid, "sequence": sequence, "updated_at": datetime.now(UTC)}
    op.bulk_insert(cursor, [row])


def downgrade() -> None:
    op.execute("DELETE FROM webhook_cursor WHERE name = 'tally'")
