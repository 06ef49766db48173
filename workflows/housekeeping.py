"""Scheduled clean-up of records whose retention has passed."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import housekeeping as contract
    from workflows.contracts.housekeeping import PurgeResult
    from workflows.steps import step


@workflow.defn(name=contract.HOUSEKEEPING.name)
class HousekeepingWorkflow:
    @workflow.run
    async def run(self) -> PurgeResult:
        return await step(contract.PURGE_IDEMPOTENCY_KEYS)(workflow.now())
