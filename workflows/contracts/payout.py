"""The monthly payout (schedule `monthly-payout`, `payout-run:{YYYY-MM}`): each eligible creator's
whole balance, paid once per month by a child redemption `payout:{creator}:{YYYY-MM}`."""

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from workflows.contracts import Activity, Workflow
from workflows.contracts.redemption import RedemptionTerms


class PayoutRunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"


class PayoutRunSummary(BaseModel):
    period: str
    creators_paid: int
    total_units: int


MONTHLY_PAYOUT = Workflow[str | None, PayoutRunSummary]("MonthlyPayoutWorkflow", PayoutRunSummary)

ELIGIBLE_CREATORS = Activity[[], list[UUID]](
    "payouts.eligible_creators", list[UUID], "Creators with a payout method and enough credits"
)
OPEN_PAYOUT = Activity[[UUID, str], RedemptionTerms | None](
    "payouts.open", RedemptionTerms | None, "Hold the creator's balance for this month's payout"
)
RECORD_RUN = Activity[[str], PayoutRunSummary](
    "payouts.record_run", PayoutRunSummary, "Count the month's completed payouts"
)
