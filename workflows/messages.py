"""Inputs and results of workflows, updates and activities: the API, workflows and activities
share these types, and the pydantic data converter carries them."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

DEPOSIT_WORKFLOW = "DepositWorkflow"
CONFIRM_DEPOSIT = "confirm"


class PurgeResult(BaseModel):
    purged: int


class DepositTerms(BaseModel):
    deposit_id: uuid.UUID
    agent_id: uuid.UUID
    amount_fiat: Decimal
    currency: str
    expires_at: datetime


class DepositState(BaseModel):
    """A deposit as workflows and callers see it; reads a `Deposit` row directly."""

    model_config = ConfigDict(from_attributes=True)

    deposit_id: uuid.UUID = Field(validation_alias=AliasChoices("deposit_id", "id"))
    agent_id: uuid.UUID
    status: str
    amount_fiat: Decimal
    currency: str
    amount_units: int
    payment_reference: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    confirmed_by: str | None


class Confirmation(BaseModel):
    confirmed_by: str


class AuditReport(BaseModel):
    chain: dict[str, Any]
    supply: dict[str, Any]
    valid: bool


PURCHASE_WORKFLOW = "PurchaseWorkflow"
CONFIRM_PAYMENT, DELIVER, VERIFY = "confirm_payment", "deliver", "verify"


class Payment(BaseModel):
    """An x402 payment as the buyer sent it (the header) and its identity."""

    header: str
    fingerprint: str


class PurchaseTerms(BaseModel):
    transaction_id: uuid.UUID
    express: bool = False
    payment: Payment | None = None  # x402 express: the payment sent with the request
    window_seconds: int = (
        86_400  # to pay, to deliver, and to verify before verification is automatic
    )


class PurchaseState(BaseModel):
    transaction_id: uuid.UUID
    status: str
    delivered_hash: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class Delivery(BaseModel):
    delivered_hash: str


REDEMPTION_WORKFLOW = "RedemptionWorkflow"
MONTHLY_PAYOUT_WORKFLOW = "MonthlyPayoutWorkflow"
APPROVE, REJECT, CANCEL = "approve", "reject", "cancel"


class RedemptionTerms(BaseModel):
    redemption_id: uuid.UUID
    redemption_type: str
    approved: bool = False  # a monthly payout needs no operator approval
    payout_attempts: int = 5
    retry_seconds: int = 1  # the first pause between payout attempts; doubles each time


class RedemptionStep(BaseModel):
    status: str
    at: datetime
    note: str = ""


class RedemptionState(BaseModel):
    redemption_id: uuid.UUID
    status: str
    provider: str | None = None
    provider_reference: str | None = None
    reason: str | None = None
    steps: list[RedemptionStep] = Field(default_factory=list)


class Rejection(BaseModel):
    reason: str


class Payout(BaseModel):
    provider: str
    reference: str


class PayoutRunSummary(BaseModel):
    period: str
    creators_paid: int
    total_units: int
