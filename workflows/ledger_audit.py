"""Scheduled: verify the ledger's chain and supply equation; failures become audit events."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities
    from workflows.messages import AuditReport


@workflow.defn(name="LedgerAuditWorkflow")
class LedgerAuditWorkflow:
    @workflow.run
    async def run(self) -> AuditReport:
        return await workflow.execute_activity_method(
            LedgerActivities.audit,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            summary="Verify the hash chain and the supply equation",
        )
