"""Alembic environment: one schema for PostgreSQL and SQLite, URL from the settings."""

from alembic import context
from sqlalchemy import create_engine, pool

import models
from core.db import ensure_sqlite_directory, sync_url
from core.settings import get_settings

config = context.config
target_metadata = models.Base.metadata


# Dialect-specific structures created by hand in the migrations: full-text search, and the
# ledger's legs pending until their commit appends them (PostgreSQL, ADR 0028).
HAND_MADE = ("listings_fts", "ix_data_listings_search", "search_vector", "ledger_pending")


def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
    return not (name or "").startswith(HAND_MADE)


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or get_settings().database_url
    ensure_sqlite_directory(url)
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run against a database.")
run_migrations_online()
