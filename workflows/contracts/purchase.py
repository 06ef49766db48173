"""The purchase flow: `PurchaseWorkflow` (`purchase:{tx}`) and its delivery-verification child.

initiate -> confirm_payment (hold the price) -> deliver -> verify -> settle (`completed`), or the
hold released (`disputed`, `expired`, `failed`). Express runs every step at once.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from core.temporal import AGENT_ID, LISTING_ID, TRANSACTION_STATUS
from workflows.contracts import Activity, Query, Update, Workflow

__all__ = ["AGENT_ID", "LISTING_ID", "TRANSACTION_STATUS"]


class PurchaseStatus(StrEnum):
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_CONFIRMED = "payment_confirmed"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    DISPUTED = "disputed"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL


FINAL = frozenset(
    {
        PurchaseStatus.COMPLETED,
        PurchaseStatus.DISPUTED,
        PurchaseStatus.REFUNDED,
        PurchaseStatus.EXPIRED,
        PurchaseStatus.FAILED,
    }
)


class VerificationStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


class PaymentMethod(StrEnum):
    TOKEN = "token"
    X402 = "x402"


class Payment(BaseModel):
    """An x402 payment as the buyer sent it (the header) and its identity."""

    header: str
    fingerprint: str


class PurchaseState(BaseModel):
    """The purchase as its row stands after a step: what every step and update answers."""

    model_config = ConfigDict(from_attributes=True)

    transaction_id: UUID = Field(validation_alias=AliasChoices("transaction_id", "id"))
    listing_id: UUID
    buyer_id: UUID
    seller_id: UUID
    amount_units: int
    fee_units: int
    status: PurchaseStatus
    payment_method: PaymentMethod
    payment_tx_hash: str | None
    content_hash: str
    delivered_hash: str | None
    verification_status: VerificationStatus
    express: bool
    error_message: str | None
    error_code: str | None = None  # the refusal's problem code when a step refused to run
    buyer_available_units: int | None = None  # express: the buyer's credits once it settled
    initiated_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None
    verified_at: datetime | None
    completed_at: datetime | None
    workflow_id: str


class PurchaseTerms(BaseModel):
    purchase: PurchaseState  # as committed before the workflow started
    payment: Payment | None = None  # x402 express: the payment sent with the request
    window_seconds: int = 86_400  # to pay, to deliver, and to verify before it is automatic


class Delivery(BaseModel):
    delivered_hash: str


# Purchases have a task queue of their own: API processes poll it too, so an express purchase
# starts eagerly in the process that waits for it (the worker process polls it as well).
PURCHASES = "purchases"
PURCHASE = Workflow[PurchaseTerms, PurchaseState]("PurchaseWorkflow", PurchaseState, PURCHASES)
VERIFICATION = Workflow[UUID, bool]("DeliveryVerificationWorkflow", bool, PURCHASES)

CONFIRM_PAYMENT = Update[Payment | None, PurchaseState]("confirm_payment", PurchaseState)
DELIVER = Update[Delivery, PurchaseState]("deliver", PurchaseState)
VERIFY = Update[None, PurchaseState]("verify", PurchaseState)
STATE = Query[PurchaseState]("state", PurchaseState)

PAY = Activity[[UUID], PurchaseState](
    "purchases.pay", PurchaseState, "Hold the price on the buyer's credits"
)
VERIFY_PAYMENT = Activity[[UUID, Payment], str](
    "purchases.verify_payment", str, "Verify the x402 payment with the facilitator"
)
SETTLE_PAYMENT = Activity[[UUID, Payment], str](
    "purchases.settle_payment", str, "Settle the x402 payment through the facilitator"
)
PAY_X402 = Activity[[UUID, str, str], PurchaseState](
    "purchases.pay_x402", PurchaseState, "Credit the settled payment to the buyer and hold it"
)
RECORD_DELIVERY = Activity[[UUID, str], PurchaseState](
    "purchases.deliver", PurchaseState, "Record the seller's delivery"
)
DELIVER_FROM_STORE = Activity[[UUID], PurchaseState](
    "purchases.deliver_from_store", PurchaseState, "Express: the seller's stored content"
)
CHECK_DELIVERY = Activity[[UUID], bool](
    "purchases.verify", bool, "Hash and merkle check of the delivered content"
)
SETTLE = Activity[[UUID], PurchaseState](
    "purchases.settle", PurchaseState, "Settle escrow: seller, treasury, burn, bonus"
)
EXPRESS = Activity[[UUID, str], PurchaseState](
    "purchases.express", PurchaseState, "Express: deliver, verify and settle in one unit of work"
)
RELEASE = Activity[[UUID, PurchaseStatus, str], PurchaseState](
    "purchases.release", PurchaseState, "Return the hold to the buyer and close"
)
