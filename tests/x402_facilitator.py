"""A local x402 facilitator: `/verify` and `/settle` over HTTP, with the x402 package's types.

It stands in for a chain: payers hold USDC balances, a payment is an authorization
{from, to, value, nonce} signed with the payer's key (HMAC here, EIP-712 on a chain), and a
nonce settles once: settling the same payment again is refused (`nonce_already_used`), as the
token contract refuses a used authorization. `POST /status` (same body as `/settle`) answers
what became of a payment: its settlement (`success: true`), or `success: false` with
`not_settled`. Knobs for tests:
- `fail_settles`: the next N settles answer 503 and settle nothing.
- `lose_settle_answers`: the next N settles settle, then their answer is lost (504, as a
  gateway that gave up waiting answers).
- `refuse_settles`: a reason makes every settle refuse with it and settle nothing.
- `status_enabled`: False makes `/status` answer 404, as a facilitator without the lookup.
"""

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from x402.http.utils import encode_payment_signature_header
from x402.schemas import (
    PaymentPayload,
    PaymentRequirements,
    SettleRequest,
    SettleResponse,
    VerifyRequest,
    VerifyResponse,
)

from tests.local_server import LocalServer


def _signature(key: str, authorization: dict[str, Any]) -> str:
    canonical = json.dumps(authorization, sort_keys=True, separators=(",", ":"))
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


@dataclass
class Chain:
    balances: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    settled: dict[str, SettleResponse] = field(default_factory=dict)  # by signature
    used_nonces: set[str] = field(default_factory=set)
    settle_calls: int = 0
    status_calls: int = 0
    fail_settles: int = 0
    lose_settle_answers: int = 0
    status_enabled: bool = True
    refuse_settles: str = ""

    def wallet(self, funds: int) -> str:
        address = "0x" + uuid.uuid4().hex.ljust(40, "0")
        self.balances[address], self.keys[address] = funds, uuid.uuid4().hex
        return address

    def pay(self, payer: str, asked: dict[str, Any], *, value: int | None = None) -> str:
        """The X-PAYMENT header a buyer's wallet would send for these requirements."""
        requirements = PaymentRequirements.model_validate(asked)
        authorization = {
            "from": payer,
            "to": requirements.pay_to,
            "value": str(value if value is not None else int(requirements.amount)),
            "nonce": uuid.uuid4().hex,
        }
        payload = PaymentPayload(
            payload={
                "authorization": authorization,
                "signature": _signature(self.keys[payer], authorization),
            },
            accepted=requirements,
        )
        return encode_payment_signature_header(payload)

    def check(self, payload: PaymentPayload, asked: PaymentRequirements) -> str | None:
        """Why this payment cannot pay these requirements, or None."""
        authorization = payload.payload.get("authorization", {})
        payer = authorization.get("from", "")
        if payer not in self.keys:
            return "unknown_payer"
        expected = _signature(self.keys[payer], authorization)
        if not hmac.compare_digest(expected, str(payload.payload.get("signature", ""))):
            return "invalid_signature"
        if authorization.get("to") != asked.pay_to:
            return "wrong_recipient"
        if int(authorization.get("value", 0)) < int(asked.amount):
            return "insufficient_value"
        if authorization.get("nonce") in self.used_nonces:
            return "nonce_already_used"
        if self.balances[payer] < int(authorization["value"]):
            return "insufficient_funds"
        return None

    def settle(self, payload: PaymentPayload, asked: PaymentRequirements) -> SettleResponse:
        signature = str(payload.payload.get("signature", ""))
        refusal = self.refuse_settles or self.check(payload, asked)
        if refusal:
            return SettleResponse(
                success=False, error_reason=refusal, transaction="", network=asked.network
            )
        authorization = payload.payload["authorization"]
        payer, value = authorization["from"], int(authorization["value"])
        nonce = authorization["nonce"]
        self.balances[payer] -= value
        self.balances[asked.pay_to] = self.balances.get(asked.pay_to, 0) + value
        self.used_nonces.add(nonce)
        self.settled[signature] = SettleResponse(
            success=True,
            payer=payer,
            transaction="0x" + hashlib.sha256(nonce.encode()).hexdigest(),
            network=asked.network,
            amount=str(value),
        )
        return self.settled[signature]

    def status(self, payload: PaymentPayload, asked: PaymentRequirements) -> SettleResponse:
        """The settlement of this very payment, or `not_settled`."""
        signature = str(payload.payload.get("signature", ""))
        if signature in self.settled:
            return self.settled[signature]
        return SettleResponse(
            success=False, error_reason="not_settled", transaction="", network=asked.network
        )


def facilitator_app(chain: Chain) -> FastAPI:
    app = FastAPI()

    @app.post("/verify")
    async def verify(body: VerifyRequest) -> JSONResponse:
        refusal = chain.check(body.payment_payload, body.payment_requirements)
        payer = body.payment_payload.payload.get("authorization", {}).get("from")
        answer = VerifyResponse(is_valid=refusal is None, invalid_reason=refusal, payer=payer)
        return JSONResponse(answer.model_dump(by_alias=True, exclude_none=True))

    @app.post("/settle")
    async def settle(body: SettleRequest) -> JSONResponse:
        chain.settle_calls += 1
        if chain.fail_settles > 0:
            chain.fail_settles -= 1
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        answer = chain.settle(body.payment_payload, body.payment_requirements)
        if chain.lose_settle_answers > 0:
            chain.lose_settle_answers -= 1
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        return JSONResponse(answer.model_dump(by_alias=True, exclude_none=True))

    @app.post("/status")
    async def status(body: SettleRequest) -> JSONResponse:
        chain.status_calls += 1
        if not chain.status_enabled:
            return JSONResponse({"error": "not found"}, status_code=404)
        answer = chain.status(body.payment_payload, body.payment_requirements)
        return JSONResponse(answer.model_dump(by_alias=True, exclude_none=True))

    return app


class Facilitator(LocalServer):
    """The facilitator on a free loopback port (an async context manager)."""

    def __init__(self) -> None:
        self.chain = Chain()
        super().__init__(facilitator_app(self.chain))
