"""The deposit flow: `DepositWorkflow` (`deposit:{id}`) waits for the payment to be confirmed,
credits it exactly once, fails it when the provider reports a failed payment, or expires it."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from workflows.contracts import Activity, Query, Update, Workflow


class DepositStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset({DepositStatus.COMPLETED, DepositStatus.EXPIRED, DepositStatus.FAILED})


class DepositState(BaseModel):
    """The deposit as its row stands after a step."""

    model_config = ConfigDict(from_attributes=True)

    deposit_id: UUID = Field(validation_alias=AliasChoices("deposit_id", "id"))
    agent_id: UUID
    status: DepositStatus
    amount_fiat: Decimal
    currency: str
    amount_units: int
    payment_reference: str
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    confirmed_by: str | None


class DepositTerms(BaseModel):
    deposit: DepositState  # as committed before the workflow started


class Confirmation(BaseModel):
    confirmed_by: str  # `operator:<id>`, or `payment_provider`
    paid: bool = True  # False: the provider reports that the payment failed


DEPOSIT = Workflow[DepositTerms, DepositState]("DepositWorkflow", DepositState)
CONFIRM = Update[Confirmation, DepositState]("confirm", DepositState)
STATE = Query[DepositState | None]("status", DepositState)

CREDIT = Activity[[UUID, str], DepositState](
    "deposits.credit", DepositState, "Mint the deposited credits"
)
EXPIRE = Activity[[UUID], DepositState]("deposits.expire", DepositState, "Expire the deposit")
FAIL = Activity[[UUID, str], DepositState](
    "deposits.fail", DepositState, "The payment failed: close the deposit, nothing minted"
)
