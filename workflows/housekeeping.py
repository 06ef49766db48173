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
        signals = 0
        if workflow.patched("purge-search-signals"):
            signals = (await step(contract.PURGE_SEARCH_SIGNALS)(now)).purged
        return HousekeepingReport(
            idempotency_keys=keys.purged, events=purged_events.purged, search_signals=signals
        )
