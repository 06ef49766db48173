"""Demand aggregation (schedule `demand-aggregation`, every DEMAND_AGGREGATION_INTERVAL_SECONDS,
overlap skip): new search signals → hourly rollups → demand per pattern over 24 h → figures and
spikes → opportunities for the top gaps. The run's end comes from the workflow's clock."""

from datetime import datetime

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow

FOLD_BATCH = 10_000  # signals per transaction
REFRESH_BATCH = 5_000  # patterns per transaction
SETTLE_SECONDS = 2  # signals younger than this are left to the next run (still committing)


class DemandTerms(BaseModel):
    settle_seconds: int = SETTLE_SECONDS


class DemandPlan(BaseModel):
    until: datetime
    window_start: datetime
    watermark: datetime | None


class Count(BaseModel):
    count: int


class DemandReport(BaseModel):
    until: datetime
    signals: int
    conversions: int
    patterns: int
    gaps: int


DEMAND_AGGREGATION = Workflow[DemandTerms | None, DemandReport](
    "DemandAggregationWorkflow", DemandReport
)

BEGIN = Activity[[datetime], DemandPlan](
    "demand.begin", DemandPlan, "Start (or resume) a run; take out what left the 24 h window"
)
FOLD = Activity[[DemandPlan, int], Count](
    "demand.fold", Count, "Fold a batch of new signals into the hourly rollups"
)
CONVERT = Activity[[DemandPlan], Count](
    "demand.convert", Count, "Count purchases that followed signals folded earlier"
)
REFRESH = Activity[[int], Count](
    "demand.refresh", Count, "Derive figures of changed patterns; announce spikes"
)
OPPORTUNITIES = Activity[[DemandPlan], Count](
    "demand.opportunities", Count, "Expire opportunities; refresh those of the top gaps"
)
FINISH = Activity[[DemandPlan], None]("demand.finish", None, "Move the watermark to the run's end")
