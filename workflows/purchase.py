"""A purchase as a saga: pay -> delivery -> verification (child) -> settle, or release.

Paying holds the price: on the buyer's credits (token mode), or out of a verified and settled
x402 payment (x402 mode). Each window (pay, deliver, verify) lasts `window_seconds`: an unpaid
purchase expires, an undelivered one is refunded as `expired`, an unverified one is verified
automatically. Express runs the same steps at once, with the seller's stored content.
The status is mirrored into the `TransactionStatus` search attribute for operators.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from core.ids import verification_workflow
    from workflows.contracts import Activity, invalid_state
    from workflows.contracts import purchase as contract
    from workflows.contracts.purchase import (
        Delivery,
        Payment,
        PurchaseState,
        PurchaseStatus,
        PurchaseTerms,
    )
    from workflows.steps import ANSWERED, DURABLE, StepFailed, child, refusal_of, step

S = PurchaseStatus
P = ParamSpec("P")
R = TypeVar("R")


@workflow.defn(name=contract.PURCHASE.name, sandboxed=False)
class PurchaseWorkflow:
    @workflow.init
    def __init__(self, terms: PurchaseTerms) -> None:
        # The status starts in the search attributes given at start, so it is set here directly.
        self._state = terms.purchase
        self._busy = 0
        self._closing = False
        self._verify_requested = False
        # Express with credits runs as a local activity: one workflow task, no round trip
        # through the server for its step (x402 calls keep their own retries).
        self._locally = terms.purchase.express and terms.payment is None

    @property
    def status(self) -> PurchaseStatus:
        return self._state.status

    def _set(self, state: PurchaseState) -> PurchaseState:
        if state.status != self._state.status:
            workflow.upsert_search_attributes([contract.TRANSACTION_STATUS.value_set(state.status)])
        self._state = state
        return state

    @workflow.run
    async def run(self, terms: PurchaseTerms) -> PurchaseState:
        if terms.purchase.express:
            return await self._express(terms.payment)
        window = timedelta(seconds=terms.window_seconds)
        if not await self._within(window, lambda: self.status != S.PAYMENT_PENDING):
            return await self._release(S.EXPIRED, "not paid within the window")
        if not await self._within(window, lambda: self.status != S.PAYMENT_CONFIRMED):
            return await self._release(S.EXPIRED, "not delivered within the window")
        if self.status.final:  # its row was closed when its start looked failed: nothing was held
            return self._state
        await self._within(window, lambda: self._verify_requested)
        return await self._verify_and_close()

    async def _express(self, payment: Payment | None) -> PurchaseState:
        """Credits: one step in one unit of work. x402: the payment first, then the same steps
        as a purchase (its settlement cannot join the ledger's unit of work)."""
        try:
            if payment is None:
                stored = self._state.content_hash
                return self._set(
                    await self._step(contract.EXPRESS, answered=True)(self._tx, stored)
                )
            await self._pay(payment)
        except StepFailed as err:
            refusal = refusal_of(err)
            reason = refusal.message if refusal else "the payment could not be completed"
            closed = await self._release(S.FAILED, reason)
            code = refusal.type if refusal else None
            return self._set(closed.model_copy(update={"error_code": code}))
        self._set(await self._step(contract.DELIVER_FROM_STORE)(self._tx))
        return await self._verify_and_close()

    async def _pay(self, payment: Payment | None) -> PurchaseState:
        """Hold the price: on the buyer's credits, or out of a verified, settled x402 payment."""
        tx = self._tx
        if payment is None:
            return self._set(await self._step(contract.PAY, answered=True)(tx))
        await self._step(contract.VERIFY_PAYMENT, answered=True)(tx, payment)
        settlement = await self._step(contract.SETTLE_PAYMENT)(tx, payment)
        return self._set(await self._step(contract.PAY_X402)(tx, payment.fingerprint, settlement))

    async def _within(self, window: timedelta, done: Callable[[], bool]) -> bool:
        """Wait for `done`; when the window closes, refuse new updates and let running ones end."""
        try:
            await workflow.wait_condition(done, timeout=window)
            return True
        except TimeoutError:
            self._closing = True
            await workflow.wait_condition(lambda: self._busy == 0)
            self._closing = False
            return done()

    async def _verify_and_close(self) -> PurchaseState:
        tx = self._tx
        if self._locally:
            matched = await self._step(contract.CHECK_DELIVERY)(tx)
        else:
            matched = await child(contract.VERIFICATION, tx, id=verification_workflow(tx))
        if matched:
            return self._set(await self._step(contract.SETTLE)(tx))
        return await self._release(S.DISPUTED, "delivered content does not match the listing")

    async def _release(self, status: PurchaseStatus, reason: str) -> PurchaseState:
        release = self._step(contract.RELEASE, summary=f"Close as {status}: {reason}")
        return self._set(await release(self._tx, status, reason))

    def _step(
        self, activity: Activity[P, R], *, answered: bool = False, summary: str | None = None
    ) -> Callable[P, Awaitable[R]]:
        policy = ANSWERED if answered else DURABLE
        return step(activity, policy, local=self._locally, summary=summary)

    async def _in_update(self, run: Callable[[], Awaitable[PurchaseState]]) -> PurchaseState:
        """Run a step for an update; a refusal fails the update with its code, not the purchase."""
        self._busy += 1
        try:
            return await run()
        except StepFailed as err:
            refusal = refusal_of(err)
            if refusal is not None:
                raise refusal from err
            raise ApplicationError("The step could not be completed", non_retryable=True) from err
        finally:
            self._busy -= 1

    def _require(self, status: PurchaseStatus) -> None:
        if self._closing or self.status != status or self._busy:
            raise invalid_state(f"This purchase is {self.status}, not {status}")

    @workflow.update(name=contract.CONFIRM_PAYMENT.name)
    async def confirm_payment(self, payment: Payment | None = None) -> PurchaseState:
        return await self._in_update(lambda: self._pay(payment))

    @confirm_payment.validator
    def _validate_payment(self, payment: Payment | None = None) -> None:
        self._require(S.PAYMENT_PENDING)

    @workflow.update(name=contract.DELIVER.name)
    async def deliver(self, delivery: Delivery) -> PurchaseState:
        async def record() -> PurchaseState:
            recorded = self._step(contract.RECORD_DELIVERY, answered=True)
            return self._set(await recorded(self._tx, delivery.delivered_hash))

        return await self._in_update(record)

    @deliver.validator
    def _validate_delivery(self, delivery: Delivery) -> None:
        self._require(S.PAYMENT_CONFIRMED)

    @workflow.update(name=contract.VERIFY.name)
    async def verify(self) -> PurchaseState:
        self._verify_requested = True
        await workflow.wait_condition(lambda: self.status.final)
        return self._state

    @verify.validator
    def _validate_verify(self) -> None:
        self._require(S.DELIVERED)

    @workflow.query(name=contract.STATE.name)
    def state(self) -> PurchaseState:
        return self._state

    @property
    def _tx(self) -> UUID:
        return self._state.transaction_id
