"""x402 payments: what a purchase asks for, and the facilitator that verifies, settles and looks
payments up.

One ledger unit is one atomic USDC unit, so the price in units is the x402 amount as is.
A settled payment enters the ledger as credits issued to the buyer and held at once
(`x402:{payment}`), so settlement and refunds are the same movements as in token mode; the
payment's fingerprint keys that movement, so one signed payment never pays two purchases.
"""

import binascii
import hashlib
import json
from typing import Any

import httpx
from pydantic import ValidationError
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.utils import decode_payment_signature_header, encode_payment_required_header
from x402.schemas import (
    PaymentPayload,
    PaymentRequired,
    PaymentRequirements,
    ResourceInfo,
    SettleResponse,
)

from core.errors import PaymentRequired as PaymentRequiredError
from core.errors import RuleViolation, Unavailable
from core.settings import Settings

HEADERS = ("X-PAYMENT", "PAYMENT-SIGNATURE")  # v1 name (the API contract's), v2 name
STATUS_PATH = "/status"  # what became of a payment (ADR 0029); not every facilitator has it
NO_LOOKUP = frozenset({404, 405, 501})  # a facilitator without that lookup: it cannot say
TIMEOUT = 10.0


class PaymentInvalid(PaymentRequiredError):
    code, title = "payment_invalid", "The payment was refused"


class PaymentMalformed(RuleViolation):
    code, title = "payment_malformed", "The payment header cannot be read"


def enabled(settings: Settings) -> bool:
    return settings.payment_mode != "simulated"


def requirements(settings: Settings, amount_units: int) -> PaymentRequirements:
    return PaymentRequirements(
        scheme="exact",
        network=settings.x402_network,
        asset=settings.x402_asset,
        amount=str(amount_units),
        pay_to=settings.x402_pay_to,
        max_timeout_seconds=settings.x402_max_timeout_seconds,
        extra={"name": "USDC", "version": "2"},
    )


def payment_required(settings: Settings, amount_units: int, resource: str) -> PaymentInvalid:
    """The 402 answer that tells a buyer what to pay (body `accepts`, header PAYMENT-REQUIRED)."""
    asked = PaymentRequired(
        error="X-PAYMENT header is required",
        resource=ResourceInfo(url=resource, mime_type="application/json"),
        accepts=[requirements(settings, amount_units)],
    )
    body = asked.model_dump(by_alias=True, exclude_none=True, mode="json")
    return PaymentInvalid(
        "This purchase is paid with an x402 payment in the X-PAYMENT header",
        code="payment_required",
        x402Version=body["x402Version"],
        accepts=body["accepts"],
        headers={"PAYMENT-REQUIRED": encode_payment_required_header(asked)},
    )


def decode(header: str) -> PaymentPayload:
    """The signed payment a buyer sent, refused (422) when it cannot be read."""
    try:
        payload = decode_payment_signature_header(header)
    except (ValueError, binascii.Error, ValidationError, UnicodeDecodeError) as exc:
        raise PaymentMalformed(f"The payment header cannot be read: {exc}") from exc
    if not isinstance(payload, PaymentPayload):
        raise PaymentMalformed("Only x402 version 2 payments are accepted")
    return payload


def fingerprint(header: str) -> str:
    """The payment's identity: the same signed payment always has the same fingerprint."""
    payload = decode(header).model_dump(by_alias=True, exclude_none=True, mode="json")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_terms(payload: PaymentPayload, asked: PaymentRequirements) -> None:
    """The payment must accept exactly what this purchase asks for."""
    offered = payload.accepted
    for field in ("scheme", "network", "asset", "amount", "pay_to"):
        if getattr(offered, field) != getattr(asked, field):
            raise PaymentInvalid(f"The payment's {field} does not match this purchase")


def settled_as_asked(
    answer: SettleResponse, payload: PaymentPayload, asked: PaymentRequirements
) -> bool:
    """A settlement of this payment that paid what this purchase asked, on its network."""
    if not answer.success or not answer.transaction or answer.network != asked.network:
        return False
    if answer.amount is not None and int(answer.amount or 0) < int(asked.amount):
        return False
    payer = payload.payload.get("authorization", {}).get("from")
    return answer.payer is None or payer is None or answer.payer == payer


class Facilitator:
    """The facilitator's /verify and /settle; transport failures are Unavailable (retried)."""

    def __init__(self, settings: Settings):
        self._url = settings.x402_facilitator_url.rstrip("/")
        self._client = HTTPFacilitatorClient(FacilitatorConfig(url=self._url, timeout=TIMEOUT))
        self._http = httpx.AsyncClient(timeout=TIMEOUT)

    async def verify(self, payload: PaymentPayload, asked: PaymentRequirements) -> str:
        """The payer's address, or PaymentInvalid."""
        check_terms(payload, asked)
        answer = await self._call(self._client.verify, payload, asked)
        if not answer.is_valid:
            reason = answer.invalid_message or answer.invalid_reason or "refused"
            raise PaymentInvalid(f"The facilitator refused the payment: {reason}")
        return answer.payer or ""

    async def settle(
        self, payload: PaymentPayload, asked: PaymentRequirements, *, retried: bool = False
    ) -> SettleResponse:
        """The payment's settlement. A retry (an earlier attempt may have settled it and lost the
        answer) asks first what became of the payment, and a refusal is believed only once the
        facilitator says this payment was not settled: a timeout never loses the buyer's money,
        and a payment is never settled twice (ADR 0029)."""
        if retried and (earlier := await self.settlement(payload, asked)) is not None:
            return earlier
        answer: SettleResponse = await self._call(self._client.settle, payload, asked)
        if answer.success:
            return answer
        if (earlier := await self.settlement(payload, asked)) is not None:
            return earlier
        reason = answer.error_message or answer.error_reason or "refused"
        raise PaymentInvalid(f"The facilitator could not settle the payment: {reason}")

    async def settlement(
        self, payload: PaymentPayload, asked: PaymentRequirements
    ) -> SettleResponse | None:
        """This payment's settlement on these terms, as the facilitator's `/status` knows it
        (same body as `/settle`), or None: not settled, or a facilitator without the lookup
        (404, 405, 501). Any other failure is Unavailable: without an answer nothing is decided."""
        body = {
            "x402Version": payload.x402_version,
            "paymentPayload": payload.model_dump(by_alias=True, exclude_none=True, mode="json"),
            "paymentRequirements": asked.model_dump(by_alias=True, exclude_none=True, mode="json"),
        }
        try:
            response = await self._http.post(f"{self._url}{STATUS_PATH}", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"The x402 facilitator did not answer: {exc}") from exc
        if response.status_code in NO_LOOKUP:
            return None
        if response.status_code != 200:
            raise Unavailable(f"The x402 facilitator's status answered {response.status_code}")
        try:
            answer = SettleResponse.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise Unavailable(f"The x402 facilitator's status cannot be read: {exc}") from exc
        return answer if settled_as_asked(answer, payload, asked) else None

    async def __aenter__(self) -> "Facilitator":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()
        await self._http.aclose()

    @staticmethod
    async def _call(method: Any, *args: Any) -> Any:
        try:
            return await method(*args)
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable(f"The x402 facilitator did not answer: {exc}") from exc
