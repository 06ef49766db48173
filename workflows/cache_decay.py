"""Scheduled: halve the content tiers' access counters and evict cold entries, in every API
process (they follow the outbox for the `cdn_decay` event this writes)."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import cache_decay as contract
    from workflows.steps import step


@workflow.defn(name=contract.CACHE_DECAY.name)
class CacheDecayWorkflow:
    @workflow.run
    async def run(self) -> None:
        await step(contract.ANNOUNCE_DECAY)()
