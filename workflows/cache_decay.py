"""Scheduled: halve the content tiers' access counters and evict cold entries, in every API
process (they follow the outbox for the `cdn_decay` event this writes)."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.content import ContentActivities


@workflow.defn(name="CacheDecayWorkflow")
class CacheDecayWorkflow:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity_method(
            ContentActivities.announce_decay,
            start_to_close_timeout=timedelta(seconds=30),
            summary="Ask every API process to decay its hot tier",
        )
