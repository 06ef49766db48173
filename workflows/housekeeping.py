"""Scheduled clean-up of records whose retention has passed."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.idempotency import IdempotencyActivities
    from workflows.messages import PurgeResult


@workflow.defn(name="HousekeepingWorkflow")
class HousekeepingWorkflow:
    @workflow.run
    async def run(self) -> PurgeResult:
        return await workflow.execute_activity_method(
            IdempotencyActivities.purge_expired,
            workflow.now(),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary="Delete expired Idempotency-Key records",
        )
