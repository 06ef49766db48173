"""followers wake up when events commit: a NOTIFY per writing transaction (PostgreSQL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# NOTIFY is delivered when the writing transaction commits (never if it rolls back), and the
# same payload is sent once per transaction: the writer's id, so a follower knows what to read.
FUNCTION = """
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events', pg_current_xact_id()::text);
    RETURN NULL;
END
$$
"""
TRIGGER = """
CREATE TRIGGER events_notify AFTER INSERT ON events
FOR EACH STATEMENT EXECUTE FUNCTION events_notify()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)
        op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER events_notify ON events")
        op.execute("DROP FUNCTION events_notify()")
