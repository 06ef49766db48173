"""What the health route reports about the database and the content store."""

from typing import Any

from sqlalchemy import distinct, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.content.store import ContentStore
from models.agents import RegisteredAgent
from models.ledger import LedgerEntry
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


async def ledger_movements(session: AsyncSession, after: int) -> tuple[int, dict[str, int]]:
    """Movements per tx_type among the ledger entries after sequence `after`, and the last
    sequence read (entries of one movement are appended together, so none is split)."""
    rows = await session.execute(
        select(
            LedgerEntry.tx_type,
            func.count(distinct(LedgerEntry.movement_id)),
            func.max(LedgerEntry.sequence),
        )
        .where(LedgerEntry.sequence > after)
        .group_by(LedgerEntry.tx_type)
    )
    counts, last = {}, after
    for tx_type, movements, sequence in rows:
        counts[tx_type] = int(movements)
        last = max(last, int(sequence))
    return last, counts
