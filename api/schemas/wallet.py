import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel

from api.schemas.common import Identifier, Page, Request, text
from api.schemas.money import ArdIn, ArdOut, FiatIn
from workflows.contracts.deposit import DepositStatus

Currency = Literal["USD", "INR", "EUR", "GBP"]


class WalletBalance(BaseModel):
    balance: ArdOut
    held: ArdOut
    available: ArdOut
    tier: str
    total_earned: ArdOut
    total_spent: ArdOut
    total_deposited: ArdOut
    total_fees_paid: ArdOut
    usd_equivalent: str
    token_name: str


class HistoryEntry(BaseModel):
    id: uuid.UUID
    direction: Literal["incoming", "outgoing"]
    tx_type: str
    amount: ArdOut
    fee_amount: ArdOut
    burn_amount: ArdOut
    reference_id: str | None
    reference_type: str | None
    memo: str
    created_at: datetime


class WalletHistory(Page):
    entries: list[HistoryEntry]


class TransferRequest(Request):
    to_agent_id: Identifier
    amount: ArdIn
    memo: Annotated[str, text(500)] = ""


class TransferResponse(BaseModel):
    id: uuid.UUID
    amount: ArdOut
    fee_amount: ArdOut
    burn_amount: ArdOut
    tx_type: str
    memo: str
    created_at: datetime


class DepositRequest(Request):
    amount_fiat: FiatIn
    currency: Currency = "USD"


class DepositCallback(Request):
    """What the payment provider signs and sends about one deposit."""

    deposit_id: uuid.UUID
    status: Literal["paid", "failed"]
    amount_fiat: FiatIn
    currency: Currency
    payment_reference: Annotated[str, text(64)] | None = None


class DepositResponse(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    status: DepositStatus
    amount_fiat: str
    currency: str
    amount_ard: ArdOut
    payment_reference: str
    payment_instructions: str | None = None
    created_at: datetime | None = None
    expires_at: datetime
    confirmed_at: datetime | None = None
    workflow_id: str


class Supply(BaseModel):
    total_minted: ArdOut
    total_burned: ArdOut
    circulating: ArdOut
    platform_balance: ArdOut
    in_escrow: ArdOut
    payout_clearing: ArdOut
    total_paid_out: ArdOut
    token_name: str


class TierInfo(BaseModel):
    name: str
    min_ard: int
    max_ard: int | None
    discount_pct: int


class Tiers(BaseModel):
    tiers: list[TierInfo]


class CurrencyInfo(BaseModel):
    code: str
    name: str
    symbol: str
    rate_per_ard: str
    ard_per_unit: str


class Currencies(BaseModel):
    currencies: list[CurrencyInfo]
