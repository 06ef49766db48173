import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from api.schemas.common import Page, Request
from api.schemas.money import ArdOut
from domain.creators import COUNTRY_CODES, EMAIL_PATTERN, PHONE_PATTERN

PayoutMethod = Literal["api_credits", "gift_card", "bank_withdrawal", "upi"]

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254, pattern=EMAIL_PATTERN),
]
# Passwords are taken exactly as typed: never stripped; every character counts (pre-hashed).
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=8, max_length=128)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Phone = Annotated[str, Field(max_length=32, pattern=f"(^$)|({PHONE_PATTERN})")]


def _iso_country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code")
    return code


Country = Annotated[
    str, StringConstraints(min_length=2, max_length=2), AfterValidator(_iso_country)
]
DetailName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DetailValue = Annotated[str, Field(max_length=256)]
PayoutDetails = Annotated[dict[DetailName, DetailValue], Field(max_length=20)]


class CreatorRegister(Request):
    email: Email
    password: Password
    display_name: DisplayName
    phone: Phone = ""
    country: Country | None = None


class CreatorLogin(Request):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[
        str, StringConstraints(strip_whitespace=False, min_length=1, max_length=128)
    ]


class CreatorUpdate(Request):
    """Only the fields sent change. `payout_method: null` clears the method and its details;
    `country: null` clears the country; `phone: ""` clears the phone."""

    display_name: DisplayName | None = None
    phone: Phone | None = None
    country: Country | None = None
    payout_method: PayoutMethod | None = None
    payout_details: PayoutDetails | None = None

    @model_validator(mode="after")
    def _required_fields_are_not_null(self) -> "CreatorUpdate":
        for name in ("display_name", "phone"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CreatorResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    phone: str
    country: str | None
    payout_method: PayoutMethod | None
    payout_details: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime


class CreatorAuthenticated(BaseModel):
    creator: CreatorResponse
    token: str


class OwnedAgent(BaseModel):
    agent_id: uuid.UUID
    name: str
    agent_type: str
    status: str
    balance: ArdOut
    available: ArdOut
    total_earned: ArdOut
    total_spent: ArdOut


class OwnedAgents(Page):
    agents: list[OwnedAgent]


class CreatorDashboard(BaseModel):
    creator_balance: ArdOut
    total_earned: ArdOut
    agents_count: int
    agents: list[OwnedAgent]
    total_agent_earnings: ArdOut
    peg_rate_usd: str
    token_name: str


class CreatorWallet(BaseModel):
    balance: ArdOut
    held: ArdOut
    available: ArdOut
    total_earned: ArdOut
    total_redeemed: ArdOut
    usd_equivalent: str
    token_name: str


class ClaimChallenge(BaseModel):
    challenge: str
    expires_at: datetime
    instructions: str = (
        "Sign the UTF-8 bytes of `challenge` with the agent's private key and POST "
        "{challenge, signature (base64)} to the claim route before `expires_at`."
    )


class ClaimSignature(Request):
    challenge: Annotated[str, Field(min_length=1, max_length=512)]
    signature: Annotated[str, Field(min_length=1, max_length=4096)]
