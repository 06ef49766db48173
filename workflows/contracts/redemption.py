"""The redemption flow: `RedemptionWorkflow` (`redemption:{id}`, or `payout:{creator}:{YYYY-MM}`
as a monthly payout's child).

pending -> (operator approval) -> processing -> provider payout attempts -> completed, or the
credits returned exactly once (cancelled, rejected, failed).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from core.temporal import CREATOR_ID
from workflows.contracts import Activity, Query, Update, Workflow

__all__ = ["CREATOR_ID"]


class RedemptionStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset(
    {
        RedemptionStatus.COMPLETED,
        RedemptionStatus.CANCELLED,
        RedemptionStatus.REJECTED,
        RedemptionStatus.FAILED,
    }
)


class RedemptionType(StrEnum):
    API_CREDITS = "api_credits"
    GIFT_CARD = "gift_card"
    BANK_WITHDRAWAL = "bank_withdrawal"
    UPI = "upi"


class RedemptionStep(BaseModel):
    status: RedemptionStatus
    at: datetime
    note: str = ""


class RedemptionState(BaseModel):
    """The redemption as its row stands after a step, with the workflow's step history."""

    model_config = ConfigDict(from_attributes=True)

    redemption_id: UUID = Field(validation_alias=AliasChoices("redemption_id", "id"))
    creator_id: UUID
    redemption_type: RedemptionType
    amount_units: int
    currency: str
    payout_details: dict[str, Any]
    status: RedemptionStatus
    provider: str | None
    provider_reference: str | None
    reason: str | None
    period: str | None
    created_at: datetime
    completed_at: datetime | None
    workflow_id: str
    steps: list[RedemptionStep] = Field(default_factory=list)


class RedemptionTerms(BaseModel):
    redemption: RedemptionState  # as committed before the workflow started
    approved: bool = False  # a monthly payout needs no operator approval
    payout_attempts: int = 5
    retry_seconds: int = 1  # the first pause between payout attempts; doubles each time
    retry_max_seconds: int = 300  # up to this


class Approval(BaseModel):
    operator_id: UUID  # who approved: recorded in the audit log with the approval


class Rejection(BaseModel):
    reason: str
    operator_id: UUID  # who rejected: recorded in the audit log with the refund


class Payout(BaseModel):
    provider: str
    reference: str


REDEMPTION = Workflow[RedemptionTerms, RedemptionState]("RedemptionWorkflow", RedemptionState)

APPROVE = Update[Approval, RedemptionState]("approve", RedemptionState)
REJECT = Update[Rejection, RedemptionState]("reject", RedemptionState)
CANCEL = Update[None, RedemptionState]("cancel", RedemptionState)
STATE = Query[RedemptionState]("state", RedemptionState)

START_PROCESSING = Activity[[UUID, UUID | None], RedemptionState](
    "redemptions.approve", RedemptionState, "Approved (by this operator): the payout starts"
)
PAY_OUT = Activity[[UUID], Payout](
    "redemptions.pay_out", Payout, "Send the money through the payout provider"
)
COMPLETE = Activity[[UUID, Payout | None], RedemptionState](
    "redemptions.complete", RedemptionState, "Paid: the credits leave payout clearing"
)
FIND_PAYOUT = Activity[[UUID], Payout | None](
    "redemptions.find_payout", Payout | None, "Ask the provider whether an unanswered attempt paid"
)
REFUND = Activity[[UUID, RedemptionStatus, str, UUID | None], RedemptionState](
    "redemptions.refund", RedemptionState, "Return the held credits to the creator"
)  # the last argument: the operator who rejected it, if one did
