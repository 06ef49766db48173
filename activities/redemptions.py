"""Redemption and monthly-payout steps: each one unit of work, safe to retry (ledger keys and
the provider's idempotency key come from the redemption)."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import unit_of_work
from core.errors import AppError
from core.settings import Settings
from domain import redemptions
from domain.redemptions import payouts
from domain.redemptions.providers import PayoutOrder, provider_for
from models.redemptions import Redemption
from workflows.messages import Payout, PayoutRunSummary, RedemptionState, RedemptionTerms


def _state(redemption: Redemption) -> RedemptionState:
    return RedemptionState(
        redemption_id=redemption.id,
        status=redemption.status,
        provider=redemption.provider,
        provider_reference=redemption.provider_reference,
        reason=redemption.reason,
    )


@dataclass
class RedemptionActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings

    @activity.defn(name="redemptions.approve")
    async def approve(self, redemption_id: uuid.UUID) -> RedemptionState:
        """Approved: the payout starts."""
        async with unit_of_work(self.sessions) as session:
            return _state(await redemptions.approve(session, redemption_id))

    @activity.defn(name="redemptions.pay_out")
    async def pay_out(self, redemption_id: uuid.UUID) -> Payout:
        """Send the money through the payout provider."""
        async with unit_of_work(self.sessions) as session:
            redemption = await redemptions.get(session, redemption_id)
        if redemption.status != "processing":  # e.g. closed by the API when its start failed
            message = f"Redemption {redemption_id} is {redemption.status}: nothing is paid"
            raise ApplicationError(message, type="invalid_state", non_retryable=True)
        order = PayoutOrder(
            redemption_id=redemption.id,
            redemption_type=redemption.redemption_type,
            amount_units=redemption.amount_units,
            currency=redemption.currency,
            payout_details=redemption.payout_details,
        )
        provider = provider_for(self.settings, redemption.redemption_type)
        try:
            return Payout(provider=provider.name, reference=await provider.pay(order))
        except AppError as exc:
            final = exc.status < 500
            raise ApplicationError(exc.detail, type=exc.code, non_retryable=final) from exc

    @activity.defn(name="redemptions.complete")
    async def complete(self, redemption_id: uuid.UUID, payout: Payout | None) -> RedemptionState:
        """Paid: the credits leave payout clearing."""
        provider, reference = (payout.provider, payout.reference) if payout else (None, None)
        async with unit_of_work(self.sessions) as session:
            return _state(await redemptions.complete(session, redemption_id, provider, reference))

    @activity.defn(name="redemptions.refund")
    async def refund(self, redemption_id: uuid.UUID, status: str, reason: str) -> RedemptionState:
        """Return the held credits to the creator."""
        async with unit_of_work(self.sessions) as session:
            return _state(await redemptions.refund(session, redemption_id, status, reason))

    @activity.defn(name="payouts.eligible_creators")
    async def eligible_creators(self) -> list[uuid.UUID]:
        """Creators with a payout method and enough credits."""
        async with unit_of_work(self.sessions) as session:
            return await payouts.eligible_creators(session, self.settings)

    @activity.defn(name="payouts.open")
    async def open_payout(self, creator_id: uuid.UUID, period: str) -> RedemptionTerms | None:
        """Hold the creator's balance for this month's payout (once per month)."""
        async with unit_of_work(self.sessions) as session:
            redemption = await payouts.open_payout(session, creator_id, period, self.settings)
            if redemption is None:
                return None
            return RedemptionTerms(
                redemption_id=redemption.id,
                redemption_type=redemption.redemption_type,
                approved=True,
                payout_attempts=self.settings.redemption_payout_attempts,
                retry_seconds=self.settings.redemption_retry_seconds,
            )

    @activity.defn(name="payouts.record_run")
    async def record_run(self, period: str) -> PayoutRunSummary:
        """Count the month's completed payouts."""
        run_id = activity.info().workflow_run_id or ""
        async with unit_of_work(self.sessions) as session:
            run = await redemptions.record_run(session, period, run_id)
            return PayoutRunSummary(
                period=run.period, creators_paid=run.creators_paid, total_units=run.total_units
            )
