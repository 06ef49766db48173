"""Operator commands: `python -m worker.cli migrate | create-operator NAME`."""

import argparse
import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import create_engine, session_factory, unit_of_work
from core.errors import AppError
from core.process import exit_hard
from core.security import TokenKind, create_token
from core.settings import Settings, get_settings
from domain import operators

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


def migrate(database_url: str) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


async def create_operator(settings: Settings, name: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            operator = await operators.create(session, name)
    finally:
        await engine.dispose()
    return create_token(
        TokenKind.OPERATOR,
        operator.id,
        secret=settings.jwt_secret_key,
        algorithm=settings.jwt_algorithm,
        expire_hours=settings.jwt_expire_hours,
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    create = sub.add_parser("create-operator", help="create an operator and print its JWT")
    create.add_argument("name")
    args = parser.parse_args()

    settings = get_settings()
    if args.command == "migrate":
        migrate(settings.database_url)
        return 0
    try:
        print(asyncio.run(create_operator(settings, args.name)))
    except AppError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_hard(main)
