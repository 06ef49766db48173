"""What the health route reports about the database and the content store."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import agents
from domain.content.store import ContentStore


async def database(session: AsyncSession) -> dict[str, Any]:
    await session.execute(text("SELECT 1"))
    return {"status": "ok", "dialect": session.get_bind().dialect.name}


async def counts(session: AsyncSession) -> dict[str, int]:
    return {"agents": await agents.count(session)}


async def content_store(store: ContentStore) -> dict[str, Any]:
    await store.check()
    return {"status": "ok", "backend": store.name}
