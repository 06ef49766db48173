"""Demand aggregation driven through its domain steps, in the workflow's order, for tests that
need its output without a Temporal server (the workflow itself is tested on real servers)."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.db import unit_of_work
from domain.demand import figures, opportunities, rollups

BATCH = 10_000


async def aggregate(
    sessions: async_sessionmaker[AsyncSession], until: datetime | None = None
) -> None:
    async with unit_of_work(sessions) as session:
        plan = await rollups.begin(session, until or utcnow())
    while True:
        async with unit_of_work(sessions) as session:
            if await rollups.fold(session, plan, BATCH) < BATCH:
                break
    async with unit_of_work(sessions) as session:
        await rollups.convert(session, plan)
    while True:
        async with unit_of_work(sessions) as session:
            if await figures.refresh(session, BATCH) < BATCH:
                break
    async with unit_of_work(sessions) as session:
        await opportunities.refresh(session, plan.until)
    async with unit_of_work(sessions) as session:
        await rollups.finish(session, plan)
