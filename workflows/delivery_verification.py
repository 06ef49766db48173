"""Child of a purchase: check the delivered bytes against the listing's hash and merkle root."""

from datetime import timedelta
from uuid import UUID

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.purchases import PurchaseActivities


@workflow.defn(name="DeliveryVerificationWorkflow")
class DeliveryVerificationWorkflow:
    @workflow.run
    async def run(self, transaction_id: UUID) -> bool:
        return await workflow.execute_activity_method(
            PurchaseActivities.verify,
            transaction_id,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary="Hash and merkle check of the delivered content",
        )
