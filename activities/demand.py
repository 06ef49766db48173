"""Demand aggregation's steps, each one bounded unit of work."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from core.settings import Settings
from domain.demand import figures, opportunities, rollups, signals
from workflows.contracts import demand as contract
from workflows.contracts import housekeeping
from workflows.contracts.demand import Count, DemandPlan
from workflows.contracts.housekeeping import PurgeResult


def _plan(plan: DemandPlan) -> rollups.Plan:
    return rollups.Plan(plan.until, plan.window_start, plan.watermark)


@dataclass
class DemandActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings

    @implements(contract.BEGIN)
    async def begin(self, until: datetime) -> DemandPlan:
        async with unit_of_work(self.sessions) as session:
            plan = await rollups.begin(session, until)
        return DemandPlan(
            until=plan.until, window_start=plan.window_start, watermark=plan.watermark
        )

    @implements(contract.FOLD)
    async def fold(self, plan: DemandPlan, limit: int) -> Count:
        async with unit_of_work(self.sessions) as session:
            return Count(count=await rollups.fold(session, _plan(plan), limit))

    @implements(contract.CONVERT)
    async def convert(self, plan: DemandPlan) -> Count:
        async with unit_of_work(self.sessions) as session:
            return Count(count=await rollups.convert(session, _plan(plan)))

    @implements(contract.REFRESH)
    async def refresh(self, limit: int) -> Count:
        async with unit_of_work(self.sessions) as session:
            return Count(count=await figures.refresh(session, limit))

    @implements(contract.OPPORTUNITIES)
    async def opportunities(self, plan: DemandPlan) -> Count:
        async with unit_of_work(self.sessions) as session:
            return Count(count=await opportunities.refresh(session, plan.until))

    @implements(contract.FINISH)
    async def finish(self, plan: DemandPlan) -> None:
        async with unit_of_work(self.sessions) as session:
            await rollups.finish(session, _plan(plan))

    @implements(housekeeping.PURGE_SEARCH_SIGNALS)
    async def purge_expired(self, now: datetime) -> PurgeResult:
        cutoff = now - timedelta(days=self.settings.search_signal_retention_days)
        async with unit_of_work(self.sessions) as session:
            purged = await signals.purge_before(session, cutoff)
            purged += await rollups.purge_before(session)
        activity.logger.info("purged search signals", extra={"purged": purged})
        return PurgeResult(purged=purged)
