import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

from api.schemas.common import Page, Request, label, text
from api.schemas.money import ArdOut
from domain.creators import COUNTRY_CODES, EMAIL_PATTERN, PHONE_PATTERN

PayoutMethod = Literal["api_credits", "gift_card", "bank_withdrawal", "upi"]

_SPACE = r"[ \t\r\n]*"
Email = Annotated[
    str,
    text(254, pattern=f"^{_SPACE}{EMAIL_PATTERN.strip('^$')}{_SPACE}$"),
    AfterValidator(lambda email: email.strip(" \t\r\n").lower()),
]
"""Surrounding spaces are dropped and the address is lower-cased."""
# Passwords are taken exactly as typed: every character counts (pre-hashed).
Password = Annotated[str, text(128, min_length=8)]
DisplayName = Annotated[str, label(100)]
Phone = Annotated[str, text(32, pattern=f"(^$)|({PHONE_PATTERN})")]
# Either case is accepted and stored upper-cased.
_ANY_CASE_COUNTRY = "|".join(
    "".join(f"[{c}{c.lower()}]" for c in code) for code in sorted(COUNTRY_CODES)
)
Country = Annotated[
    str, text(2, pattern=f"^({_ANY_CASE_COUNTRY})$"), AfterValidator(lambda code: code.upper())
]
DetailName = Annotated[str, label(64)]
DetailValue = Annotated[str, text(256)]
PayoutDetails = Annotated[dict[DetailName, DetailValue], Field(max_length=20)]


class CreatorRegister(Request):
    email: Email
    password: Password
    display_name: DisplayName
    phone: Phone = ""
    country: Country | None = None


class CreatorLogin(Request):
    email: Annotated[str, text(254, min_length=1)]
    password: Annotated[str, text(128, min_length=1)]


def _not_null(schema: JsonDict) -> None:
    """Document the field without its null branch (the model refuses an explicit null)."""
    [branch] = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]  # type: ignore[union-attr]
    schema.update(branch)  # type: ignore[arg-type]
    schema.pop("default", None)


class CreatorUpdate(Request):
    """Only the fields sent change. `payout_method: null` clears the method and its details;
    `country: null` clears the country; `phone: ""` clears the phone."""

    display_name: DisplayName | None = Field(default=None, json_schema_extra=_not_null)
    phone: Phone | None = Field(default=None, json_schema_extra=_not_null)
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
    challenge: Annotated[str, text(512, min_length=1)]
    signature: Annotated[str, text(4096, min_length=1)]
