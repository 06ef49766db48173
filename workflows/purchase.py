"""A purchase as a saga: pay -> delivery -> verification (child) -> settle, or release.

Paying holds the price: on the buyer's credits (token mode), or out of a verified and settled
x402 payment (x402 mode). Each window (pay, deliver, verify) lasts `window_seconds`: an unpaid
purchase expires, an undelivered one is refunded as `expired`, an unverified one is verified
automatically. Express runs the same steps at once, with the seller's stored content.
The status is mirrored into the `TransactionStatus` search attribute for operators.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.purchases import PurchaseActivities
    from core.ids import verification_workflow
    from core.temporal import TRANSACTION_STATUS
    from workflows.delivery_verification import DeliveryVerificationWorkflow
    from workflows.messages import (
        CONFIRM_PAYMENT,
        DELIVER,
        PURCHASE_WORKFLOW,
        VERIFY,
        Delivery,
        Payment,
        PurchaseState,
        PurchaseTerms,
    )
    from workflows.steps import DURABLE, summary_of

STEP = timedelta(seconds=10)  # each step takes milliseconds; a lost one is retried this soon
ANSWERED = RetryPolicy(maximum_attempts=3)  # a caller waits on these: answer, don't loop
FINAL = ("completed", "disputed", "refunded", "expired", "failed")


def _refusal(err: BaseException) -> ApplicationError | None:
    """The business refusal behind a failed step (a local activity raises it as it is)."""
    if isinstance(err, ApplicationError):
        return err
    cause = err.cause if isinstance(err, ActivityError) else None
    return cause if isinstance(cause, ApplicationError) else None


@workflow.defn(name=PURCHASE_WORKFLOW)
class PurchaseWorkflow:
    @workflow.init
    def __init__(self, terms: PurchaseTerms) -> None:
        # The status starts in the search attributes given at start, so it is set here directly.
        self._state = PurchaseState(transaction_id=terms.transaction_id, status="payment_pending")
        self._busy = 0
        self._closing = False
        self._verify_requested = False
        # Express with credits runs every step as a local activity: one workflow task, no
        # round trips through the server between steps (x402 calls keep their own retries).
        self._locally = terms.express and terms.payment is None

    @property
    def status(self) -> str:
        return self._state.status

    def _set(self, state: PurchaseState) -> PurchaseState:
        if state.status != self._state.status:
            workflow.upsert_search_attributes([TRANSACTION_STATUS.value_set(state.status)])
        self._state = state
        return state

    @workflow.run
    async def run(self, terms: PurchaseTerms) -> PurchaseState:
        tx = terms.transaction_id
        if terms.express:
            return await self._express(terms)
        window = timedelta(seconds=terms.window_seconds)
        if not await self._within(window, lambda: self.status != "payment_pending"):
            return await self._release(tx, "expired", "not paid within the window")
        if not await self._within(window, lambda: self.status != "payment_confirmed"):
            return await self._release(tx, "expired", "not delivered within the window")
        await self._within(window, lambda: self._verify_requested)
        return await self._verify_and_close(tx)

    async def _express(self, terms: PurchaseTerms) -> PurchaseState:
        tx = terms.transaction_id
        try:
            await self._pay(terms.payment)
        except (ActivityError, ApplicationError) as err:
            refusal = _refusal(err)
            reason = refusal.message if refusal else str(err)
            closed = await self._release(tx, "failed", reason)
            code = refusal.type if refusal else None
            return self._set(closed.model_copy(update={"error_code": code}))
        self._set(await self._step(PurchaseActivities.deliver_from_store, tx))
        return await self._verify_and_close(tx)

    async def _pay(self, payment: Payment | None) -> PurchaseState:
        """Hold the price: on the buyer's credits, or out of a verified, settled x402 payment."""
        tx = self._tx
        if payment is None:
            return self._set(await self._step(PurchaseActivities.pay, tx, retry=ANSWERED))
        await self._step(PurchaseActivities.verify_payment, tx, payment, retry=ANSWERED)
        settlement = await self._step(PurchaseActivities.settle_payment, tx, payment)
        return self._set(
            await self._step(PurchaseActivities.pay_x402, tx, payment.fingerprint, settlement)
        )

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

    async def _verify_and_close(self, tx: UUID) -> PurchaseState:
        if self._locally:
            matched = await self._step(PurchaseActivities.verify, tx)
        else:
            matched = await workflow.execute_child_workflow(
                DeliveryVerificationWorkflow.run, tx, id=verification_workflow(tx)
            )
        if matched:
            self._set(await self._step(PurchaseActivities.settle, tx))
        else:
            await self._release(tx, "disputed", "delivered content does not match the listing")
        return self._state

    async def _release(self, tx: UUID, status: str, reason: str) -> PurchaseState:
        summary = f"Close as {status}: {reason}"
        return self._set(
            await self._step(PurchaseActivities.release, tx, status, reason, summary=summary)
        )

    async def _step(
        self, method: Any, *args: Any, retry: RetryPolicy = DURABLE, summary: str | None = None
    ) -> Any:
        summary = summary or summary_of(method)
        if self._locally:
            return await workflow.execute_local_activity_method(
                method,
                args=list(args),
                start_to_close_timeout=STEP,
                retry_policy=retry,
                summary=summary,
            )
        return await workflow.execute_activity_method(
            method,
            args=list(args),
            start_to_close_timeout=STEP,
            retry_policy=retry,
            summary=summary,
        )

    async def _in_update(self, step: Callable[[], Any]) -> PurchaseState:
        """Run a step for an update; a business refusal fails the update, not the purchase."""
        self._busy += 1
        try:
            state: PurchaseState = await step()
            return state
        except ActivityError as err:
            if refusal := _refusal(err):
                message, code = refusal.message, refusal.type
                raise ApplicationError(message, type=code, non_retryable=True) from err
            raise ApplicationError(str(err), type="unavailable", non_retryable=True) from err
        finally:
            self._busy -= 1

    def _require(self, status: str) -> None:
        if self._closing or self.status != status or self._busy:
            raise ApplicationError(
                f"This purchase is {self.status}, not {status}", type="invalid_state"
            )

    @workflow.update(name=CONFIRM_PAYMENT)
    async def confirm_payment(self, payment: Payment | None = None) -> PurchaseState:
        return await self._in_update(lambda: self._pay(payment))

    @confirm_payment.validator
    def _validate_payment(self, payment: Payment | None = None) -> None:
        self._require("payment_pending")

    @workflow.update(name=DELIVER)
    async def deliver(self, delivery: Delivery) -> PurchaseState:
        async def step() -> PurchaseState:
            delivered = delivery.delivered_hash
            step_args = (PurchaseActivities.deliver, self._tx, delivered)
            return self._set(await self._step(*step_args, retry=ANSWERED))

        return await self._in_update(step)

    @deliver.validator
    def _validate_delivery(self, delivery: Delivery) -> None:
        self._require("payment_confirmed")

    @workflow.update(name=VERIFY)
    async def verify(self) -> PurchaseState:
        self._verify_requested = True
        await workflow.wait_condition(lambda: self.status in FINAL)
        return self._state

    @verify.validator
    def _validate_verify(self) -> None:
        self._require("delivered")

    @workflow.query
    def state(self) -> PurchaseState:
        return self._state

    @property
    def _tx(self) -> UUID:
        return self._state.transaction_id
