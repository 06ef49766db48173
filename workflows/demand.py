"""Scheduled demand aggregation: each run folds in the signals since the last one (ADR 0025)."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import demand as contract
    from workflows.contracts.demand import DemandReport, DemandTerms
    from workflows.steps import LONG, step


@workflow.defn(name=contract.DEMAND_AGGREGATION.name)
class DemandAggregationWorkflow:
    @workflow.run
    async def run(self, terms: DemandTerms | None = None) -> DemandReport:
        terms = terms or DemandTerms()
        until = workflow.now() - timedelta(seconds=terms.settle_seconds)
        plan = await step(contract.BEGIN, LONG)(until)
        signals = 0
        while True:
            folded = (await step(contract.FOLD, LONG)(plan, contract.FOLD_BATCH)).count
            signals += folded
            if folded < contract.FOLD_BATCH:
                break
        conversions = (await step(contract.CONVERT, LONG)(plan)).count
        patterns = 0
        while True:
            done = (await step(contract.REFRESH, LONG)(contract.REFRESH_BATCH)).count
            patterns += done
            if done < contract.REFRESH_BATCH:
                break
        gaps = (await step(contract.OPPORTUNITIES, LONG)(plan)).count
        await step(contract.FINISH, LONG)(plan)
        return DemandReport(
            until=plan.until, signals=signals, conversions=conversions, patterns=patterns, gaps=gaps
        )
