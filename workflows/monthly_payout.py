"""The monthly payout run: each eligible creator's whole balance, paid once per month.

A creator's payout is a child RedemptionWorkflow with the id `payout:{creator}:{YYYY-MM}`,
which Temporal refuses to start twice, over a redemption and a ledger hold keyed the same way:
a second run in the same month (a retried schedule, a manual trigger) pays nobody twice.
"""

import asyncio

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from core.ids import payout_workflow
    from workflows.contracts import payout as contract
    from workflows.contracts.payout import PayoutRunSummary
    from workflows.contracts.redemption import REDEMPTION
    from workflows.steps import SCAN, step


@workflow.defn(name=contract.MONTHLY_PAYOUT.name)
class MonthlyPayoutWorkflow:
    @workflow.run
    async def run(self, period: str | None = None) -> PayoutRunSummary:
        month = period or workflow.now().strftime("%Y-%m")
        creators = await step(contract.ELIGIBLE_CREATORS, SCAN)()
        children = []
        for creator in creators:
            terms = await step(contract.OPEN_PAYOUT)(creator, month)
            if terms is None:
                continue
            try:
                children.append(
                    await workflow.start_child_workflow(
                        REDEMPTION.name,
                        terms,
                        id=payout_workflow(creator, month),
                        result_type=REDEMPTION.result,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        static_summary=f"Payout {month} of creator {creator}",
                    )
                )
            except WorkflowAlreadyStartedError:
                workflow.logger.info("Creator %s was already paid for %s", creator, month)
        await asyncio.gather(*children)
        return await step(contract.RECORD_RUN)(month)
