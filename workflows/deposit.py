"""A deposit waits for its payment to be confirmed, credits exactly once, or expires.

The API commits the pending deposit before it starts this workflow (`api/flows`).
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import deposit as contract
    from workflows.contracts import invalid_state
    from workflows.contracts.deposit import Confirmation, DepositState, DepositStatus, DepositTerms
    from workflows.steps import step


@workflow.defn(name=contract.DEPOSIT.name)
class DepositWorkflow:
    @workflow.init
    def __init__(self, terms: DepositTerms) -> None:
        self._state = terms.deposit
        self._confirmation: Confirmation | None = None
        self._expired = False

    @workflow.run
    async def run(self, terms: DepositTerms) -> DepositState:
        deposit = terms.deposit.deposit_id
        window = max(terms.deposit.expires_at - workflow.now(), timedelta(0))
        try:
            await workflow.wait_condition(lambda: self._confirmation is not None, timeout=window)
        except TimeoutError:
            self._expired = True
        confirmation = self._confirmation
        if confirmation is not None and confirmation.paid:
            self._state = await step(contract.CREDIT)(deposit, confirmation.confirmed_by)
        elif confirmation is not None:
            self._state = await step(contract.FAIL)(deposit, confirmation.confirmed_by)
        else:
            self._state = await step(contract.EXPIRE)(deposit)
        return self._state

    @workflow.update(name=contract.CONFIRM.name)
    async def confirm(self, confirmation: Confirmation) -> DepositState:
        if self._confirmation is None:
            self._confirmation = confirmation
        await workflow.wait_condition(lambda: self._state.status != DepositStatus.PENDING)
        return self._state

    @confirm.validator
    def _validate_confirm(self, confirmation: Confirmation) -> None:
        if self._expired:
            raise invalid_state("This deposit has expired")

    @workflow.query(name=contract.STATE.name)
    def status(self) -> DepositState:
        return self._state
