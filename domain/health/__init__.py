"""What the health route reports about the database and the content store."""

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.content.store import ContentStore
from models.agents import RegisteredAgent
from models.listings import DataListing
from models.purchases import Transaction


async def database(session: AsyncSession) -> dict[str, Any]:
    await session.execute(text("SELECT 1"))
    return {"status": "ok", "dialect": session.get_bind().dialect.name}


async def counts(session: AsyncSession) -> dict[str, int]:
    tables = {"agents": RegisteredAgent, "listings": DataListing, "transactions": Transaction}
    return {
        name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
        for name, table in tables.items()
    }


async def content_store(store: ContentStore) -> dict[str, Any]:
    await store.check()
    return {"status": "ok", "backend": store.name}
