"""Child of a purchase: check the delivered bytes against the listing's hash and merkle root."""

from uuid import UUID

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import purchase as contract
    from workflows.steps import step


@workflow.defn(name=contract.VERIFICATION.name)
class DeliveryVerificationWorkflow:
    @workflow.run
    async def run(self, transaction_id: UUID) -> bool:
        return await step(contract.CHECK_DELIVERY)(transaction_id)
