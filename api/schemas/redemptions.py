import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Page, Request, text
from api.schemas.creators import PayoutDetails
from api.schemas.money import ArdIn, ArdOut
from workflows.contracts.payout import PayoutRunStatus
from workflows.contracts.redemption import RedemptionStatus, RedemptionType


class RedemptionRequest(Request):
    redemption_type: RedemptionType
    amount_ard: ArdIn
    currency: Literal["USD", "INR", "EUR", "GBP"] = "USD"
    payout_details: PayoutDetails = Field(
        default_factory=dict, description="Defaults to the creator's saved details for the type"
    )


class Step(BaseModel):
    status: RedemptionStatus
    at: datetime
    note: str


class RedemptionResponse(BaseModel):
    id: uuid.UUID
    creator_id: uuid.UUID
    redemption_type: RedemptionType
    amount_ard: ArdOut
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
    steps: list[Step] = Field(default_factory=list)


class RedemptionList(Page):
    redemptions: list[RedemptionResponse]


class Method(BaseModel):
    type: str
    label: str
    description: str
    min_ard: ArdOut
    min_usd: Decimal
    processing_time: str


class Methods(BaseModel):
    methods: list[Method]


class RejectRequest(Request):
    reason: Annotated[str, text(500, min_length=1)]


class PayoutRunResponse(BaseModel):
    period: str
    status: PayoutRunStatus
    creators_paid: int
    total_ard: ArdOut
    runs: int
    started_at: datetime
    completed_at: datetime | None


class PayoutRuns(Page):
    payouts: list[PayoutRunResponse]
