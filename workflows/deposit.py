"""A deposit waits for its payment to be confirmed, credits exactly once, or expires."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.deposits import DepositActivities
    from workflows.messages import (
        CONFIRM_DEPOSIT,
        DEPOSIT_WORKFLOW,
        Confirmation,
        DepositState,
        DepositTerms,
    )

TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


@workflow.defn(name=DEPOSIT_WORKFLOW)
class DepositWorkflow:
    def __init__(self) -> None:
        self._state: DepositState | None = None
        self._confirmation: Confirmation | None = None
        self._expired = False

    @workflow.run
    async def run(self, terms: DepositTerms) -> DepositState:
        self._state = await workflow.execute_activity_method(
            DepositActivities.open,
            terms,
            summary="Record the pending deposit",
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        window = max(terms.expires_at - workflow.now(), timedelta(0))
        confirmed = await self._wait_for_confirmation(window)
        if confirmed and self._confirmation is not None:
            self._state = await workflow.execute_activity_method(
                DepositActivities.credit,
                args=[terms.deposit_id, self._confirmation.confirmed_by],
                summary="Mint the deposited credits",
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
        else:
            self._state = await workflow.execute_activity_method(
                DepositActivities.expire,
                terms.deposit_id,
                summary="Expire the deposit",
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
        return self._state

    async def _wait_for_confirmation(self, window: timedelta) -> bool:
        try:
            await workflow.wait_condition(lambda: self._confirmation is not None, timeout=window)
            return True
        except TimeoutError:
            self._expired = True
            return False

    @workflow.update(name=CONFIRM_DEPOSIT)
    async def confirm(self, confirmation: Confirmation) -> DepositState:
        if self._confirmation is None:
            self._confirmation = confirmation
        await workflow.wait_condition(
            lambda: self._state is not None and self._state.status != "pending"
        )
        assert self._state is not None
        return self._state

    @confirm.validator
    def _validate_confirm(self, confirmation: Confirmation) -> None:
        if self._expired:
            raise ValueError("this deposit has expired")

    @workflow.query
    def status(self) -> DepositState | None:
        return self._state
