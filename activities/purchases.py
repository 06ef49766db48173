"""Purchase steps: each one unit of work, safe to retry (ledger keys come from the transaction)."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from core.handover import Handover
from core.settings import Settings
from domain import listings, proofs, purchases
from domain.content.store import content_key
from domain.purchases import x402
from domain.wallet import accounts
from workflows.contracts import purchase as contract
from workflows.contracts.purchase import Payment, PurchaseState, PurchaseStatus


@dataclass
class PurchaseActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    read_content: Callable[[str], Awaitable[bytes]]
    answers: Handover[uuid.UUID, PurchaseState]

    @implements(contract.PAY)
    async def pay(self, tx_id: uuid.UUID) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            return PurchaseState.model_validate(await purchases.pay(session, tx_id))

    @implements(contract.VERIFY_PAYMENT)
    async def verify_payment(self, tx_id: uuid.UUID, payment: Payment) -> str:
        async with unit_of_work(self.sessions) as session:
            await purchases.refuse_replayed_payment(session, tx_id, payment.fingerprint)
            tx = await purchases.get(session, tx_id)
        async with x402.Facilitator(self.settings) as facilitator:
            asked = x402.requirements(self.settings, tx.amount_units)
            return await facilitator.verify(x402.decode(payment.header), asked)

    @implements(contract.SETTLE_PAYMENT)
    async def settle_payment(self, tx_id: uuid.UUID, payment: Payment) -> str:
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
        async with x402.Facilitator(self.settings) as facilitator:
            asked = x402.requirements(self.settings, tx.amount_units)
            retried = activity.info().attempt > 1  # an earlier attempt may have settled it
            settled = await facilitator.settle(x402.decode(payment.header), asked, retried=retried)
        return settled.transaction

    @implements(contract.PAY_X402)
    async def pay_x402(self, tx_id: uuid.UUID, payment: str, settlement: str) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            paid = await purchases.pay_x402(session, tx_id, payment, settlement)
            return PurchaseState.model_validate(paid)

    @implements(contract.RECORD_DELIVERY)
    async def deliver(self, tx_id: uuid.UUID, delivered_hash: str) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            return PurchaseState.model_validate(
                await purchases.deliver(session, tx_id, delivered_hash)
            )

    @implements(contract.DELIVER_FROM_STORE)
    async def deliver_from_store(self, tx_id: uuid.UUID) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
            return PurchaseState.model_validate(
                await purchases.deliver(session, tx_id, tx.content_hash)
            )

    @implements(contract.CHECK_DELIVERY)
    async def verify(self, tx_id: uuid.UUID) -> bool:
        async with unit_of_work(self.sessions) as session:
            tx = await purchases.get(session, tx_id)
            committed = await listings.committed(session, tx.listing_id)
        data = await self.read_content(tx.delivered_hash or "")
        async with unit_of_work(self.sessions) as session:
            return await purchases.record_verification(
                session, tx_id, content_key(data), proofs.verify_delivery(data, committed)
            )

    @implements(contract.SETTLE)
    async def settle(self, tx_id: uuid.UUID) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            settled = await purchases.settle(session, tx_id, self.settings)
            return PurchaseState.model_validate(settled)

    @implements(contract.EXPRESS)
    async def express(self, tx_id: uuid.UUID, content_hash: str) -> PurchaseState:
        """Also gives its result to a request waiting in this process: the workflow returns
        exactly this state, committed before it is given."""
        try:
            stored = await self.read_content(content_hash)
            async with unit_of_work(self.sessions) as session:
                bought = await purchases.buy_at_once(session, tx_id, stored, self.settings)
                state = PurchaseState.model_validate(bought)
                available = await accounts.available(session, bought.buyer_id)
        except BaseException:
            self.answers.give(tx_id, None)
            raise
        answer = state.model_copy(update={"buyer_available_units": available})
        self.answers.give(tx_id, answer)
        return answer

    @implements(contract.RELEASE)
    async def release(self, tx_id: uuid.UUID, status: PurchaseStatus, reason: str) -> PurchaseState:
        async with unit_of_work(self.sessions) as session:
            released = await purchases.release(session, tx_id, status, reason)
            return PurchaseState.model_validate(released)
