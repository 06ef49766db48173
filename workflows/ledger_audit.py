"""Scheduled: verify the ledger's chain and supply equation; failures become audit events."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ledger_audit as contract
    from workflows.contracts.ledger_audit import AuditReport
    from workflows.steps import LONG, step


@workflow.defn(name=contract.LEDGER_AUDIT.name)
class LedgerAuditWorkflow:
    @workflow.run
    async def run(self) -> AuditReport:
        return await step(contract.AUDIT_LEDGER, LONG)()
