"""The monthly payout run: each eligible creator's whole balance, paid once per month.

A creator's payout is a child RedemptionWorkflow with the id `payout:{creator}:{YYYY-MM}`,
which Temporal refuses to start twice, over a redemption and a ledger hold keyed the same way:
a second run in the same month (a retried schedule, a manual trigger) pays nobody twice.
"""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.redemptions import RedemptionActivities
    from core.ids import payout_workflow
    from workflows.messages import MONTHLY_PAYOUT_WORKFLOW, PayoutRunSummary, RedemptionTerms
    from workflows.redemption import RedemptionWorkflow
    from workflows.steps import durable_step

STEP = timedelta(minutes=1)


@workflow.defn(name=MONTHLY_PAYOUT_WORKFLOW)
class MonthlyPayoutWorkflow:
    @workflow.run
    async def run(self, period: str | None = None) -> PayoutRunSummary:
        month = period or workflow.now().strftime("%Y-%m")
        creators = await self._step(RedemptionActivities.eligible_creators)
        children = []
        for creator in creators:
            terms: RedemptionTerms | None = await self._step(
                RedemptionActivities.open_payout, creator, month
            )
            if terms is None:
                continue
            try:
                children.append(
                    await workflow.start_child_workflow(
                        RedemptionWorkflow.run,
                        terms,
                        id=payout_workflow(creator, month),
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        parent_close_policy=ParentClosePolicy.ABANDON,
                        static_summary=f"Payout {month} of creator {creator}",
                    )
                )
            except WorkflowAlreadyStartedError:
                workflow.logger.info("Creator %s was already paid for %s", creator, month)
        await asyncio.gather(*children)
        summary: PayoutRunSummary = await self._step(RedemptionActivities.record_run, month)
        return summary

    async def _step(self, method: Any, *args: Any) -> Any:
        return await durable_step(method, *args, start_to_close=STEP)
