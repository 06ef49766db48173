"""Payout providers: how an approved redemption's money leaves the platform.

A provider's `pay(order)` either returns the provider's reference for the payout, or raises:
- `PayoutRefused` (422, final): the details are wrong or the provider said no; retrying the same
  order cannot succeed, so the redemption fails and its credits are returned.
- `core.errors.Unavailable` (503, retried): the provider could not be reached, timed out, answered
  429 or 5xx, or answered something unreadable. Retrying is safe: Razorpay receives the
  redemption id as `X-Payout-Idempotency`, so a retried call answers the payout already made and
  never pays twice.

`find(order)` asks the provider whether a payout for the order was made (Razorpay: its payouts
listed by `reference_id`, the redemption id) before a redemption whose attempt went unanswered is
refunded (ADR 0029): the payout's reference when one was made and has not failed, None when none
was; `Unavailable` whenever the provider cannot say, since a refund needs a definite "not paid".

A 401 from Razorpay (wrong key id or secret) is a `PayoutRefused`, not a retry: the keys are read
once per process, so retrying cannot fix them, and holding every redemption in `processing`
until someone notices helps nobody. Refusing returns the credits at once and nothing is paid; the
detail names the cause so an operator can fix the keys.

Razorpay X pays out in INR only (UPI, and IMPS to bank accounts), so it pays every order in INR:
the credits are converted at the INR rate whatever `order.currency` says (the same value by the
platform's rate table; e.g. 10,000 ARD asked in USD is paid as 840 INR, not refused). An unknown
currency code is refused as a malformed order. The simulated provider pays any supported
currency and any method.
"""

import uuid
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any, Final, Protocol

import httpx

from core.errors import RuleViolation, Unavailable
from core.money import UNITS_PER_ARD
from core.settings import Settings
from domain.wallet.deposits import CURRENCIES

# Every supported currency (USD, INR, EUR, GBP) has two decimals (ISO 4217 exponent 2):
# cents, paise, cents, pence.
MINOR_UNITS_PER_MAJOR: Final = 100
TIMEOUT_SECONDS: Final = 10
NARRATION: Final = "AgentChains payout"
DEFAULT_CONTACT_NAME: Final = "AgentChains creator"

# The payout_details fields each paid method needs (api_credits never reaches a provider).
REQUIRED_DETAILS: Final[dict[str, tuple[str, ...]]] = {
    "upi": ("upi_id",),
    "bank_withdrawal": ("account_number", "ifsc", "account_holder_name"),
    "gift_card": ("email",),
}
RAZORPAY_TYPES: Final = frozenset({"upi", "bank_withdrawal"})
RAZORPAY_CURRENCY: Final = "INR"
# Payout states Razorpay can answer at once that mean the money will not move.
RAZORPAY_FAILED_STATES: Final = frozenset({"rejected", "cancelled", "failed", "reversed"})


class PayoutRefused(RuleViolation):
    code, title = "payout_refused", "The payout was refused"


@dataclass(frozen=True)
class PayoutOrder:
    """What a provider is asked to pay for one redemption."""

    redemption_id: uuid.UUID
    redemption_type: str  # api_credits | gift_card | bank_withdrawal | upi
    amount_units: int  # 1 unit = 0.001 ARD
    currency: str  # USD | INR | EUR | GBP
    payout_details: dict[str, Any]


class PayoutProvider(Protocol):
    name: str

    async def pay(self, order: PayoutOrder) -> str:
        """The provider's reference for the payout; PayoutRefused or Unavailable otherwise."""
        ...

    async def find(self, order: PayoutOrder) -> str | None:
        """The reference of a payout made for this order that has not failed, or None;
        Unavailable when the provider cannot say."""
        ...


def payout_amount(amount_units: int, currency: str) -> int:
    """The amount in the currency's minor unit (cents, paise, pence), rounded down.

    Rates per ARD are the deposit rates (USD 0.001, INR 0.084, EUR 0.00092, GBP 0.00079).
    Rounding is ROUND_FLOOR: a creator is never paid more than the credits are worth, and less by
    under one minor unit. Example: 10,000 ARD = 10,000,000 units -> 840 INR -> 84000 paise.
    Raises ValueError for a negative amount or an unknown currency.
    """
    if isinstance(amount_units, bool) or not isinstance(amount_units, int) or amount_units < 0:
        raise ValueError("amount_units must be a non-negative int")
    if currency not in CURRENCIES:
        raise ValueError(f"unsupported currency {currency!r}")
    rate = CURRENCIES[currency].rate_per_ard
    with localcontext() as context:
        context.prec = 60  # exact for any int amount well beyond the ledger's limit
        exact = Decimal(amount_units) * rate * MINOR_UNITS_PER_MAJOR / UNITS_PER_ARD
        return int(exact.to_integral_value(ROUND_FLOOR))


def required_details(order: PayoutOrder) -> dict[str, str]:
    """The fields the order's method needs, each a non-blank string; PayoutRefused otherwise."""
    if order.redemption_type not in REQUIRED_DETAILS:
        raise ValueError(f"{order.redemption_type!r} redemptions are not paid by a provider")
    details: dict[str, str] = {}
    for field in REQUIRED_DETAILS[order.redemption_type]:
        value = order.payout_details.get(field)
        if not isinstance(value, str) or not value.strip():
            raise PayoutRefused(f"payout_details.{field} is required for {order.redemption_type}")
        details[field] = value.strip()
    for field in ("upi_id", "email"):
        if field in details and not _looks_like_address(details[field]):
            raise PayoutRefused(f"payout_details.{field} must look like name@domain")
    return details


def _looks_like_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and domain) and "@" not in domain


def _supported_currency(order: PayoutOrder) -> None:
    if order.currency not in CURRENCIES:
        raise PayoutRefused(f"Payouts in {order.currency!r} are not supported")


def _minor_amount(amount_units: int, currency: str) -> int:
    amount = payout_amount(amount_units, currency)
    if amount <= 0:
        raise PayoutRefused(f"The amount is less than one minor unit of {currency}")
    return amount


class SimulatedProvider:
    """Pays nothing, checks the details, and answers the same reference for the same order."""

    name = "simulated"

    async def pay(self, order: PayoutOrder) -> str:
        required_details(order)
        _supported_currency(order)
        _minor_amount(order.amount_units, order.currency)
        return f"sim_{order.redemption_id.hex}"

    async def find(self, order: PayoutOrder) -> str | None:
        return None  # it never pays anything, and always answers


class RazorpayProvider:
    """Razorpay X composite payouts: `POST /v1/payouts` with the fund account inline."""

    name = "razorpay"

    def __init__(self, settings: Settings, *, timeout_seconds: int = TIMEOUT_SECONDS) -> None:
        self._base_url = settings.razorpay_base_url.rstrip("/")
        self._auth = (settings.razorpay_key_id, settings.razorpay_key_secret)
        self._account_number = settings.razorpay_account_number
        self._timeout = timeout_seconds

    def request_body(self, order: PayoutOrder) -> dict[str, Any]:
        """The JSON body for this order, in INR; PayoutRefused when Razorpay cannot pay it."""
        if order.redemption_type not in RAZORPAY_TYPES:
            raise ValueError(f"Razorpay does not pay {order.redemption_type!r} redemptions")
        details = required_details(order)
        _supported_currency(order)
        reference = str(order.redemption_id)
        if order.redemption_type == "upi":
            mode, account_type = "UPI", "vpa"
            name = order.payout_details.get("name")
            contact_name = name.strip() if isinstance(name, str) and name.strip() else None
            target: dict[str, Any] = {"vpa": {"address": details["upi_id"]}}
        else:
            mode, account_type, contact_name = (
                "IMPS",
                "bank_account",
                details["account_holder_name"],
            )
            target = {
                "bank_account": {
                    "name": details["account_holder_name"],
                    "ifsc": details["ifsc"],
                    "account_number": details["account_number"],
                }
            }
        return {
            "account_number": self._account_number,
            "amount": _minor_amount(order.amount_units, RAZORPAY_CURRENCY),
            "currency": RAZORPAY_CURRENCY,
            "mode": mode,
            "purpose": "payout",
            "fund_account": {
                "account_type": account_type,
                **target,
                "contact": {
                    "name": contact_name or DEFAULT_CONTACT_NAME,
                    "type": "vendor",
                    "reference_id": reference,
                },
            },
            "queue_if_low_balance": True,
            "reference_id": reference,
            "narration": NARRATION,
        }

    async def pay(self, order: PayoutOrder) -> str:
        body = self.request_body(order)
        try:
            async with httpx.AsyncClient(
                base_url=self._base_url, auth=self._auth, timeout=self._timeout
            ) as client:
                response = await client.post(
                    "/v1/payouts",
                    json=body,
                    headers={"X-Payout-Idempotency": str(order.redemption_id)},
                )
        except httpx.HTTPError as exc:
            raise Unavailable(f"Razorpay did not answer: {type(exc).__name__} {exc}") from exc
        return _payout_id(response)

    async def find(self, order: PayoutOrder) -> str | None:
        """`GET /v1/payouts?reference_id=` (the redemption id, sent with every attempt)."""
        query = {"account_number": self._account_number, "reference_id": str(order.redemption_id)}
        try:
            async with httpx.AsyncClient(
                base_url=self._base_url, auth=self._auth, timeout=self._timeout
            ) as client:
                response = await client.get("/v1/payouts", params=query)
        except httpx.HTTPError as exc:
            raise Unavailable(f"Razorpay did not answer: {type(exc).__name__} {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(f"Razorpay's payouts answered {response.status_code}")
        try:
            items = response.json()["items"]
            made = [
                item["id"]
                for item in items
                if item.get("reference_id") == query["reference_id"]
                and item.get("status") not in RAZORPAY_FAILED_STATES
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Unavailable(f"Razorpay's payouts cannot be read: {exc}") from exc
        if len(made) > 1:
            raise Unavailable(f"Razorpay lists {len(made)} payouts for one redemption: {made}")
        return str(made[0]) if made else None


def _payout_id(response: httpx.Response) -> str:
    status = response.status_code
    if status == 401:
        raise PayoutRefused(
            "Razorpay refused the credentials (401): check RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET"
        )
    if 400 <= status < 500 and status != 429:
        raise PayoutRefused(f"Razorpay refused the payout ({status}): {_description(response)}")
    if not 200 <= status < 300:
        raise Unavailable(f"Razorpay answered {status}: {_description(response)}")
    try:
        answer = response.json()
        payout_id, state = answer["id"], answer.get("status")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Retrying is safe: the idempotency key answers the payout that may have been made.
        raise Unavailable(f"Razorpay's answer cannot be read: {exc}") from exc
    if not isinstance(payout_id, str) or not payout_id:
        raise Unavailable("Razorpay's answer has no payout id")
    if state in RAZORPAY_FAILED_STATES:
        details = answer.get("status_details")
        reason = details.get("description") if isinstance(details, dict) else None
        raise PayoutRefused(f"Razorpay payout {payout_id} is {state}: {reason or state}")
    return payout_id


def _description(response: httpx.Response) -> str:
    """Razorpay's error description ({"error": {"description": ...}}), else the raw text."""
    try:
        description = response.json()["error"]["description"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
    return str(description)


def provider_for(settings: Settings, redemption_type: str) -> PayoutProvider:
    """Razorpay for UPI and bank withdrawals when its keys are set; the simulation otherwise.

    API credits are paid inside the platform and never reach a provider (ValueError).
    """
    if redemption_type not in REQUIRED_DETAILS:
        raise ValueError(f"{redemption_type!r} redemptions are not paid by a provider")
    keys_set = bool(settings.razorpay_key_id and settings.razorpay_key_secret)
    if redemption_type in RAZORPAY_TYPES and keys_set:
        return RazorpayProvider(settings)
    return SimulatedProvider()
