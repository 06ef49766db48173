"""Migrations build exactly the models' schema on PostgreSQL and SQLite, and go both ways."""

from alembic import command
from alembic.config import Config

from worker.cli import ALEMBIC_INI


def _config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = url
    return config


def test_schema_matches_models_and_round_trips(database_url: str) -> None:
    config = _config(database_url)
    command.check(config)  # raises if the models have changes no migration captures
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    command.check(config)
