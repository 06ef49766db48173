"""A redemption: held credits -> (operator approval) -> payout with retries -> completed, or the
credits returned exactly once (cancelled, rejected, failed).

API credits complete at once. Payout attempts run one at a time, each a single activity
attempt, so a rejection never races an attempt in flight: it takes effect between attempts, and
an attempt that already paid wins (the rejection is then refused). When an attempt went
unanswered (timed out, 5xx), the provider is asked whether it paid before any refund (ADR 0029).
"""

from datetime import timedelta
from uuid import UUID

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import invalid_state
    from workflows.contracts import redemption as contract
    from workflows.contracts.redemption import (
        Approval,
        Payout,
        RedemptionState,
        RedemptionStatus,
        RedemptionStep,
        RedemptionTerms,
        RedemptionType,
        Rejection,
    )
    from workflows.steps import ONCE, StepFailed, refusal_of, step

S = RedemptionStatus
APPROVE, REJECT, CANCEL = "approve", "reject", "cancel"  # the decision taken on the redemption
# Histories from before it refund without asking: `workflow.patched` keeps them replaying.
FIND_BEFORE_REFUND = "find-payout-before-refund"


@workflow.defn(name=contract.REDEMPTION.name)
class RedemptionWorkflow:
    @workflow.init
    def __init__(self, terms: RedemptionTerms) -> None:
        self._state = terms.redemption
        self._note(S.PENDING, "credits held in payout clearing")
        self._decision: str | None = APPROVE if terms.approved else None
        self._decided_by: UUID | None = None  # the operator who approved or rejected
        self._reason = ""
        self._unanswered = (
            False  # an attempt failed without the provider's answer: it may have paid
        )

    @workflow.run
    async def run(self, terms: RedemptionTerms) -> RedemptionState:
        if terms.redemption.redemption_type == RedemptionType.API_CREDITS:
            return self._closed(await step(contract.COMPLETE)(self._id, None))
        await workflow.wait_condition(lambda: self._decision is not None)
        if self._decision != APPROVE:
            return await self._refund(self._decision_status, self._reason)
        await step(contract.START_PROCESSING)(self._id, self._decided_by)
        self._note(S.PROCESSING, "approved")
        payout = await self._pay_out(terms)
        if payout is None and self._unanswered and workflow.patched(FIND_BEFORE_REFUND):
            payout = await step(contract.FIND_PAYOUT)(self._id)  # retried until it answers
            if payout is not None:
                self._note(S.PROCESSING, f"the provider made payout {payout.reference}")
        if payout is not None:
            return self._closed(await step(contract.COMPLETE)(self._id, payout))
        if self._decision == REJECT:
            return await self._refund(S.REJECTED, self._reason)
        return await self._refund(S.FAILED, self._reason)

    async def _pay_out(self, terms: RedemptionTerms) -> Payout | None:
        """Attempt the payout until it succeeds, is refused, is rejected, or attempts run out."""
        pause = terms.retry_seconds
        for attempt in range(1, terms.payout_attempts + 1):
            if self._rejected():
                return None
            summary = f"Payout attempt {attempt} of {terms.payout_attempts}"
            try:
                return await step(contract.PAY_OUT, ONCE, summary=summary)(self._id)
            except StepFailed as err:
                refusal = refusal_of(err)
                self._reason = refusal.message if refusal else "the payout provider did not answer"
                self._note(S.PROCESSING, f"attempt {attempt} failed: {self._reason}")
                if refusal is not None:
                    return None
                self._unanswered = True
            if attempt < terms.payout_attempts:
                try:
                    await workflow.wait_condition(self._rejected, timeout=timedelta(seconds=pause))
                    return None
                except TimeoutError:
                    pause = min(pause * 2, terms.retry_max_seconds)
        return None

    def _rejected(self) -> bool:
        return self._decision == REJECT

    async def _refund(self, status: RedemptionStatus, reason: str) -> RedemptionState:
        rejected_by = self._decided_by if status == S.REJECTED else None
        return self._closed(await step(contract.REFUND)(self._id, status, reason, rejected_by))

    def _closed(self, closed: RedemptionState) -> RedemptionState:
        self._state = closed.model_copy(update={"steps": self._state.steps})
        self._note(closed.status, closed.reason or closed.provider_reference or "")
        return self._state

    def _note(self, status: RedemptionStatus, note: str) -> None:
        self._state.status = status
        self._state.steps.append(RedemptionStep(status=status, at=workflow.now(), note=note))

    @property
    def _id(self) -> UUID:
        return self._state.redemption_id

    @property
    def _decision_status(self) -> RedemptionStatus:
        return {REJECT: S.REJECTED, CANCEL: S.CANCELLED}.get(self._decision or "", S.FAILED)

    async def _decided(self, expected: RedemptionStatus) -> RedemptionState:
        await workflow.wait_condition(lambda: self._state.status.final)
        if self._state.status != expected:
            raise invalid_state(f"The redemption was {self._state.status} first")
        return self._state

    def _refuse_unless(self, allowed: bool) -> None:
        if not allowed:
            raise invalid_state(f"This redemption is {self._state.status}")

    @workflow.update(name=contract.APPROVE.name)
    async def approve(self, approval: Approval) -> RedemptionState:
        self._decision, self._decided_by = APPROVE, approval.operator_id
        await workflow.wait_condition(lambda: self._state.status != S.PENDING)
        return self._state

    @approve.validator
    def _validate_approve(self, approval: Approval) -> None:
        self._refuse_unless(self._state.status == S.PENDING and self._decision is None)

    @workflow.update(name=contract.REJECT.name)
    async def reject(self, rejection: Rejection) -> RedemptionState:
        self._decision, self._reason = REJECT, rejection.reason
        self._decided_by = rejection.operator_id
        return await self._decided(S.REJECTED)

    @reject.validator
    def _validate_reject(self, rejection: Rejection) -> None:
        open_to_reject = self._decision in (None, APPROVE)
        self._refuse_unless(self._state.status in (S.PENDING, S.PROCESSING) and open_to_reject)

    @workflow.update(name=contract.CANCEL.name)
    async def cancel(self) -> RedemptionState:
        self._decision, self._reason = CANCEL, "cancelled by the creator"
        return await self._decided(S.CANCELLED)

    @cancel.validator
    def _validate_cancel(self) -> None:
        self._refuse_unless(self._state.status == S.PENDING and self._decision is None)

    @workflow.query(name=contract.STATE.name)
    def state(self) -> RedemptionState:
        return self._state
