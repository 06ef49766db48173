"""Purchase steps: each one unit of work, safe to retry (ledger keys come from the transaction)."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import unit_of_work
from core.errors import AppError
from core.settings import Settings
from domain import listings, proofs, purchases
from domain.content.store import ContentStore, content_key
from domain.purchases import x402
from models.purchases import Transaction
from workflows.messages import Payment, PurchaseState


def _state(tx: Transaction) -> PurchaseState:
    return PurchaseState(
        transaction_id=tx.id,
        status=tx.status,
        delivered_hash=tx.delivered_hash,
        error_message=tx.error_message,
    )


def _refusal(exc: AppError) -> ApplicationError:
    """A business refusal is final: no retry, and its code reaches the caller."""
    return ApplicationError(exc.detail, type=exc.code, non_retryable=True)


@dataclass
class PurchaseActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    content: ContentStore

    @activity.defn(name="purchases.pay")
    async def pay(self, tx_id: uuid.UUID) -> PurchaseState:
        """Hold the price on the buyer's credits."""
        try:
            async with unit_of_work(self.sessions) as session:
                return _state(await purchases.pay(session, tx_id))
        except AppError as exc:
            raise _refusal(exc) from exc

    @activity.defn(name="purchases.verify_payment")
    async def verify_payment(self, tx_id: uuid.UUID, payment: Payment) -> str:
        """Verify the x402 payment with the facilitator."""
        try:
            async with unit_of_work(self.sessions) as session:
                await purchases.refuse_replayed_payment(session, tx_id, payment.fingerprint)
                tx = await purchases.get(session, tx_id)
            facilitator = x402.Facilitator(self.settings)
            try:
                asked = x402.requirements(self.settings, tx.amount_units)
                return await facilitator.verify(x402.decode(payment.header), asked)
            finally:
                await facilitator.aclose()
        except AppError as exc:
            if exc.status >= 500:
                raise  # the facilitator did not answer: retried
            raise _refusal(exc) from exc

    @activity.defn(name="purchases.settle_payment")
    async def settle_payment(self, tx_id: uuid.UUID, payment: Payment) -> str:
        """Settle the x402 payment through the facilitator."""
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
        facilitator = x402.Facilitator(self.settings)
        try:
            asked = x402.requirements(self.settings, tx.amount_units)
            settled = await facilitator.settle(x402.decode(payment.header), asked)
        except AppError as exc:
            if exc.status >= 500:
                raise
            raise _refusal(exc) from exc
        finally:
            await facilitator.aclose()
        return settled.transaction

    @activity.defn(name="purchases.pay_x402")
    async def pay_x402(self, tx_id: uuid.UUID, payment: str, settlement: str) -> PurchaseState:
        """Credit the settled payment to the buyer and hold it."""
        try:
            async with unit_of_work(self.sessions) as session:
                return _state(await purchases.pay_x402(session, tx_id, payment, settlement))
        except AppError as exc:
            raise _refusal(exc) from exc

    @activity.defn(name="purchases.deliver")
    async def deliver(self, tx_id: uuid.UUID, delivered_hash: str) -> PurchaseState:
        """Record the seller's delivery."""
        async with unit_of_work(self.sessions) as session:
            return _state(await purchases.deliver(session, tx_id, delivered_hash))

    @activity.defn(name="purchases.deliver_from_store")
    async def deliver_from_store(self, tx_id: uuid.UUID) -> PurchaseState:
        """Express: the seller's stored content is the delivery."""
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
            return _state(await purchases.deliver(session, tx_id, tx.content_hash))

    @activity.defn(name="purchases.verify")
    async def verify(self, tx_id: uuid.UUID) -> bool:
        """Hash the delivered bytes and check them against the listing's hash and merkle root."""
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
            committed = listings.as_proofs(await listings.proofs_of(session, str(tx.listing_id)))
        data = await self.content.get(tx.delivered_hash or "")
        async with unit_of_work(self.sessions) as session:
            return await purchases.record_verification(
                session, tx_id, content_key(data), proofs.verify_delivery(data, committed)
            )

    @activity.defn(name="purchases.settle")
    async def settle(self, tx_id: uuid.UUID) -> PurchaseState:
        """Settle escrow: seller, treasury, burn, bonus."""
        async with unit_of_work(self.sessions) as session:
            return _state(await purchases.settle(session, tx_id, self.settings))

    @activity.defn(name="purchases.release")
    async def release(self, tx_id: uuid.UUID, status: str, reason: str) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            window = self.settings.purchase_delivery_timeout
            return _state(await purchases.release(session, tx_id, status, reason, window))
