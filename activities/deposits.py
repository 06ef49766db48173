"""Deposit side effects: record the pending deposit, credit it once, or expire it."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import unit_of_work
from core.errors import InvalidState
from domain.wallet import deposits
from workflows.messages import DepositState, DepositTerms


@dataclass
class DepositActivities:
    sessions: async_sessionmaker[AsyncSession]

    @activity.defn(name="deposits.open")
    async def open(self, terms: DepositTerms) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            deposit = await deposits.open_deposit(session, **terms.model_dump())
            return DepositState.model_validate(deposit)

    @activity.defn(name="deposits.credit")
    async def credit(self, deposit_id: uuid.UUID, confirmed_by: str) -> DepositState:
        try:
            async with unit_of_work(self.sessions) as session:
                return DepositState.model_validate(
                    await deposits.credit(session, deposit_id, confirmed_by)
                )
        except InvalidState as exc:
            raise ApplicationError(exc.detail, type="InvalidState", non_retryable=True) from exc

    @activity.defn(name="deposits.expire")
    async def expire(self, deposit_id: uuid.UUID) -> DepositState:
        async with unit_of_work(self.sessions) as session:
            return DepositState.model_validate(await deposits.expire(session, deposit_id))
