"""Deposit side effects: credit a confirmed deposit once, fail it, or expire it."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities import implements
from core.db import unit_of_work
from domain.wallet import deposits
from workflows.contracts import deposit as contract
from workflows.contracts.deposit import DepositState


@dataclass
class DepositActivities:
    sessions: async_sessionmaker[AsyncSession]

    @implements(contract.CREDIT)
    async def credit(self, deposit_id: uuid.UUID, confirmed_by: str) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            credited = await deposits.credit(session, deposit_id, confirmed_by)
            return DepositState.model_validate(credited)

    @implements(contract.FAIL)
    async def fail(self, deposit_id: uuid.UUID, reported_by: str) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            return DepositState.model_validate(
                await deposits.fail(session, deposit_id, reported_by)
            )

    @implements(contract.EXPIRE)
    async def expire(self, deposit_id: uuid.UUID) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            return DepositState.model_validate(await deposits.expire(session, deposit_id))
