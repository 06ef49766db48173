"""webhook_cursor is outbox_cursors: it holds every follower's place, the tally's too

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-01

The table was made for the webhook dispatcher (0015); since 0035 the counters' tally keeps its
cursor there too. Only its name changes (and, on PostgreSQL, its primary key's).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}")


def upgrade() -> None:
    _rename("webhook_cursor", "outbox_cursors")


def downgrade() -> None:
    _rename("outbox_cursors", "webhook_cursor")
