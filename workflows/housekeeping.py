"""Scheduled clean-up of records whose retention has passed."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import housekeeping as contract
    from workflows.contracts.housekeeping import HousekeepingReport
    from workflows.steps import step


@workflow.defn(name=contract.HOUSEKEEPING.name)
class HousekeepingWorkflow:
    @workflow.run
    async def run(self) -> HousekeepingReport:
        now = workflow.now()
        keys = await step(contract.PURGE_IDEMPOTENCY_KEYS)(now)
        purged_events = await step(contract.PURGE_EVENTS)(now)
        deliveries = await step(contract.PURGE_WEBHOOK_DELIVERIES)(now)
        callbacks = await step(contract.PURGE_DEPOSIT_CALLBACKS)(now)
        signals = await step(contract.PURGE_SEARCH_SIGNALS)(now)
        return HousekeepingReport(
            idempotency_keys=keys.purged,
            events=purged_events.purged,
            webhook_deliveries=deliveries.purged,
            deposit_callbacks=callbacks.purged,
            search_signals=signals.purged,
        )
