"""Redemption and monthly-payout steps: each one unit of work, safe to retry (ledger keys and
the provider's idempotency key come from the redemption)."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from core.errors import InvalidState
from core.settings import Settings
from domain import redemptions
from domain.redemptions import payouts
from domain.redemptions.providers import PayoutOrder, provider_for
from models.redemptions import Redemption
from workflows.contracts import payout, redemption
from workflows.contracts.payout import PayoutRunSummary
from workflows.contracts.redemption import (
    Payout,
    RedemptionState,
    RedemptionStatus,
    RedemptionTerms,
)


@dataclass
class RedemptionActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings

    @implements(redemption.START_PROCESSING)
    async def approve(
        self, redemption_id: uuid.UUID, approved_by: uuid.UUID | None
    ) -> RedemptionState:
        async with unit_of_work(self.sessions) as session:
            approved = await redemptions.approve(session, redemption_id, approved_by)
            return RedemptionState.model_validate(approved)

    @implements(redemption.PAY_OUT)
    async def pay_out(self, redemption_id: uuid.UUID) -> Payout:
        row = await self._processing(redemption_id)
        provider = provider_for(self.settings, row.redemption_type)
        return Payout(provider=provider.name, reference=await provider.pay(_order(row)))

    @implements(redemption.FIND_PAYOUT)
    async def find_payout(self, redemption_id: uuid.UUID) -> Payout | None:
        row = await self._processing(redemption_id)
        provider = provider_for(self.settings, row.redemption_type)
        reference = await provider.find(_order(row))
        return Payout(provider=provider.name, reference=reference) if reference else None

    async def _processing(self, redemption_id: uuid.UUID) -> Redemption:
        async with unit_of_work(self.sessions) as session:
            row = await redemptions.get(session, redemption_id)
        if row.status != RedemptionStatus.PROCESSING:  # e.g. closed when its start failed
            raise InvalidState(f"Redemption {redemption_id} is {row.status}: nothing is paid")
        return row

    @implements(redemption.COMPLETE)
    async def complete(self, redemption_id: uuid.UUID, paid: Payout | None) -> RedemptionState:
        provider, reference = (paid.provider, paid.reference) if paid else (None, None)
        async with unit_of_work(self.sessions) as session:
            completed = await redemptions.complete(session, redemption_id, provider, reference)
            return RedemptionState.model_validate(completed)

    @implements(redemption.REFUND)
    async def refund(
        self,
        redemption_id: uuid.UUID,
        status: RedemptionStatus,
        reason: str,
        rejected_by: uuid.UUID | None,
    ) -> RedemptionState:
        async with unit_of_work(self.sessions) as session:
            refunded = await redemptions.refund(session, redemption_id, status, reason, rejected_by)
            return RedemptionState.model_validate(refunded)

    @implements(payout.ELIGIBLE_CREATORS)
    async def eligible_creators(self) -> list[uuid.UUID]:
        async with unit_of_work(self.sessions) as session:
            return await payouts.eligible_creators(session, self.settings)

    @implements(payout.OPEN_PAYOUT)
    async def open_payout(self, creator_id: uuid.UUID, period: str) -> RedemptionTerms | None:
        async with unit_of_work(self.sessions) as session:
            opened = await payouts.open_payout(session, creator_id, period, self.settings)
            if opened is None:
                return None
            return RedemptionTerms(
                redemption=RedemptionState.model_validate(opened),
                approved=True,
                payout_attempts=self.settings.redemption_payout_attempts,
                retry_seconds=self.settings.redemption_retry_seconds,
                retry_max_seconds=self.settings.redemption_retry_max_seconds,
            )

    @implements(payout.RECORD_RUN)
    async def record_run(self, period: str) -> PayoutRunSummary:
        run_id = activity.info().workflow_run_id or ""
        async with unit_of_work(self.sessions) as session:
            run = await redemptions.record_run(session, period, run_id)
            return PayoutRunSummary(
                period=run.period, creators_paid=run.creators_paid, total_units=run.total_units
            )


def _order(row: Redemption) -> PayoutOrder:
    """What the provider is asked to pay (and looked up by) for this redemption."""
    return PayoutOrder(
        redemption_id=row.id,
        redemption_type=row.redemption_type,
        amount_units=row.amount_units,
        currency=row.currency,
        payout_details=row.payout_details,
    )
