"""A redemption: held credits -> (operator approval) -> payout with retries -> completed, or the
credits returned exactly once (cancelled, rejected, failed).

API credits complete at once. Payout attempts run one at a time, each a single activity
attempt, so a rejection never races an attempt in flight: it takes effect between attempts, and
an attempt that already paid wins (the rejection is then refused).
"""

from datetime import timedelta
from typing import Any
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.redemptions import RedemptionActivities
    from workflows.messages import (
        APPROVE,
        CANCEL,
        REDEMPTION_WORKFLOW,
        REJECT,
        Payout,
        RedemptionState,
        RedemptionStep,
        RedemptionTerms,
        Rejection,
    )
    from workflows.steps import durable_step

STEP = timedelta(seconds=30)
ONCE = RetryPolicy(maximum_attempts=1)  # payout attempts are counted by the workflow
FINAL = ("completed", "cancelled", "rejected", "failed")
MAX_PAUSE = 300


@workflow.defn(name=REDEMPTION_WORKFLOW)
class RedemptionWorkflow:
    @workflow.init
    def __init__(self, terms: RedemptionTerms) -> None:
        self._state = RedemptionState(redemption_id=terms.redemption_id, status="pending")
        self._note("pending", "credits held in payout clearing")
        self._decision: str | None = "approve" if terms.approved else None
        self._reason = ""

    @workflow.run
    async def run(self, terms: RedemptionTerms) -> RedemptionState:
        if terms.redemption_type == "api_credits":
            return await self._close(RedemptionActivities.complete, self._id, None)
        await workflow.wait_condition(lambda: self._decision is not None)
        if self._decision != "approve":
            return await self._refund(self._decision_status, self._reason)
        await self._step(RedemptionActivities.approve, self._id)
        self._note("processing", "approved")
        payout = await self._pay_out(terms)
        if payout is not None:
            return await self._close(RedemptionActivities.complete, self._id, payout)
        if self._decision == "reject":
            return await self._refund("rejected", self._reason)
        return await self._refund("failed", self._reason)

    async def _pay_out(self, terms: RedemptionTerms) -> Payout | None:
        """Attempt the payout until it succeeds, is refused, is rejected, or attempts run out."""
        pause = terms.retry_seconds
        for attempt in range(1, terms.payout_attempts + 1):
            if self._rejected():
                return None
            try:
                payout: Payout = await workflow.execute_activity_method(
                    RedemptionActivities.pay_out,
                    self._id,
                    start_to_close_timeout=STEP,
                    retry_policy=ONCE,
                    summary=f"Payout attempt {attempt} of {terms.payout_attempts}",
                )
                return payout
            except ActivityError as err:
                cause = err.cause
                self._reason = cause.message if isinstance(cause, ApplicationError) else str(err)
                self._note("processing", f"attempt {attempt} failed: {self._reason}")
                if isinstance(cause, ApplicationError) and cause.non_retryable:
                    return None
            if attempt < terms.payout_attempts:
                try:
                    await workflow.wait_condition(self._rejected, timeout=timedelta(seconds=pause))
                    return None
                except TimeoutError:
                    pause = min(pause * 2, MAX_PAUSE)
        return None

    def _rejected(self) -> bool:
        return self._decision == "reject"

    async def _refund(self, status: str, reason: str) -> RedemptionState:
        return await self._close(RedemptionActivities.refund, self._id, status, reason)

    async def _close(self, method: Any, *args: Any) -> RedemptionState:
        closed: RedemptionState = await self._step(method, *args)
        steps = [*self._state.steps]
        self._state = closed.model_copy(update={"steps": steps})
        self._note(closed.status, closed.reason or closed.provider_reference or "")
        return self._state

    async def _step(self, method: Any, *args: Any) -> Any:
        return await durable_step(method, *args, start_to_close=STEP)

    def _note(self, status: str, note: str) -> None:
        self._state.status = status
        self._state.steps.append(RedemptionStep(status=status, at=workflow.now(), note=note))

    @property
    def _id(self) -> UUID:
        return self._state.redemption_id

    @property
    def _decision_status(self) -> str:
        return {"reject": "rejected", "cancel": "cancelled"}.get(self._decision or "", "failed")

    async def _decided(self, expected: str) -> RedemptionState:
        await workflow.wait_condition(lambda: self._state.status in FINAL)
        if self._state.status != expected:
            raise ApplicationError(
                f"The redemption was {self._state.status} first", type="invalid_state"
            )
        return self._state

    def _refuse_unless(self, allowed: bool) -> None:
        if not allowed:
            raise ApplicationError(f"This redemption is {self._state.status}", type="invalid_state")

    @workflow.update(name=APPROVE)
    async def approve(self) -> RedemptionState:
        self._decision = "approve"
        await workflow.wait_condition(lambda: self._state.status != "pending")
        return self._state

    @approve.validator
    def _validate_approve(self) -> None:
        self._refuse_unless(self._state.status == "pending" and self._decision is None)

    @workflow.update(name=REJECT)
    async def reject(self, rejection: Rejection) -> RedemptionState:
        self._decision, self._reason = "reject", rejection.reason
        return await self._decided("rejected")

    @reject.validator
    def _validate_reject(self, rejection: Rejection) -> None:
        open_to_reject = self._decision in (None, "approve")
        self._refuse_unless(self._state.status in ("pending", "processing") and open_to_reject)

    @workflow.update(name=CANCEL)
    async def cancel(self) -> RedemptionState:
        self._decision, self._reason = "cancel", "cancelled by the creator"
        return await self._decided("cancelled")

    @cancel.validator
    def _validate_cancel(self) -> None:
        self._refuse_unless(self._state.status == "pending" and self._decision is None)

    @workflow.query
    def state(self) -> RedemptionState:
        return self._state
