import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel

from api.schemas.common import Identifier, Page, Request, text
from api.schemas.listings import PriceOut
from api.schemas.money import ArdOut
from workflows.contracts.purchase import PaymentMethod, PurchaseStatus, VerificationStatus

# Delivered and checked content is stored as bytes, never as text; its size is bounded by
# the request body limit (MAX_BODY_BYTES).
Content = Annotated[str, text(4_194_304)]


class Initiate(Request):
    listing_id: Identifier


class PaymentDetails(BaseModel):
    pay_to_address: str
    network: str
    asset: str
    amount_usdc: PriceOut
    facilitator_url: str
    simulated: bool


class Initiated(BaseModel):
    transaction_id: uuid.UUID
    status: PurchaseStatus
    amount_usdc: PriceOut
    amount_ard: ArdOut
    payment_details: PaymentDetails
    content_hash: str


class DeliverRequest(Request):
    content: Content


class TransactionResponse(BaseModel):
    id: uuid.UUID
    listing_id: uuid.UUID
    buyer_id: uuid.UUID
    seller_id: uuid.UUID
    amount_usdc: PriceOut
    amount_ard: ArdOut
    fee_ard: ArdOut
    status: PurchaseStatus
    payment_method: PaymentMethod
    payment_tx_hash: str | None
    content_hash: str
    delivered_hash: str | None
    verification_status: VerificationStatus
    error_message: str | None
    initiated_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None
    verified_at: datetime | None
    completed_at: datetime | None
    workflow_id: str


class TransactionList(Page):
    transactions: list[TransactionResponse]


class ExpressRequest(Request):
    payment_method: PaymentMethod = PaymentMethod.TOKEN


ContentEncoding = Literal["utf-8", "base64"]


class ExpressResult(BaseModel):
    transaction_id: uuid.UUID
    listing_id: uuid.UUID
    content: str
    content_encoding: ContentEncoding
    content_hash: str
    price_usdc: PriceOut
    amount_ard: ArdOut
    fee_ard: ArdOut
    buyer_balance: ArdOut
    seller_id: uuid.UUID
    delivery_ms: int
    cache_hit: bool


class ContentCheck(Request):
    transaction_id: Identifier
    content: Content


class ContentVerdict(BaseModel):
    verified: bool
    expected_hash: str
    actual_hash: str
