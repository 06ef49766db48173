"""catalog_version: one counter of the changes to what discovery shows (ADR 0043)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-01

Every write to `data_listings` and every change of an agent's name (a seller's name is on its
listings' results) counts itself, in its own transaction, by a trigger: the counter moves with
the commit that changed the catalog, whoever wrote. On PostgreSQL the trigger runs before the
statement and once per transaction, so a writer takes the counter's row lock before any
listing's and holds one new row version at most.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNT = "UPDATE catalog_version SET version = version + 1 WHERE id = 1"
_PG_FUNCTION = f"""
CREATE FUNCTION catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('agentchains.catalog_changed', true) IS DISTINCT FROM 'yes' THEN
        {_COUNT};
        PERFORM set_config('agentchains.catalog_changed', 'yes', true);
    END IF;
    RETURN NULL;
END $$
"""
# name -> (event, table)
_TRIGGERS = {
    "catalog_listing_insert": ("INSERT", "data_listings"),
    "catalog_listing_update": ("UPDATE", "data_listings"),
    "catalog_listing_delete": ("DELETE", "data_listings"),
    "catalog_seller_name": ("UPDATE OF name", "registered_agents"),
}


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
    )
    op.execute("INSERT INTO catalog_version (id, version) VALUES (1, 0)")
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(_PG_FUNCTION)
    for name, (event, table) in _TRIGGERS.items():
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed()"
            )
        else:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_COUNT}; END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, (_, table) in _TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION catalog_changed()")
    op.drop_table("catalog_version")
