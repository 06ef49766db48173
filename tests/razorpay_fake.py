"""A local Razorpay X: `POST /v1/payouts` (composite payouts) over HTTP, served by uvicorn.

It checks HTTP basic auth (401 otherwise), validates the body as Razorpay does (400 with
{"error": {"code": "BAD_REQUEST_ERROR", "description": ...}}), and honours
`X-Payout-Idempotency`: the same key with the same body answers the payout already made, and
the same key with another body is refused. Knobs for tests:
- `fail_next`: answer `fail_status` (500 by default, 429 for throttling) to the next N calls,
  paying nothing; `always_fail` does so for every call.
- `lose_answers`: make the payout, then answer 500 to the next N calls (a lost answer).
- `delay_seconds`: wait this long before answering (to make a client time out).
- `payout_status`: the status new payouts get ("processing"; "rejected" to refuse at once).
- `in_flight` (read only): calls received and not answered yet.
`GET /v1/payouts?account_number=&reference_id=` lists payouts as Razorpay's "fetch all payouts"
does (`{"entity": "collection", "count", "items"}`); `lookups` counts these calls and
`fail_lookups` answers 500 to the next N of them. `calls` and the knobs above count creates only.
"""

import asyncio
import base64
import binascii
import hmac
import json
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from tests.local_server import LocalServer

IFSC = re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$")
VPA = re.compile(r"^[A-Za-z0-9.\-_]{2,256}@[A-Za-z]{2,64}$")
BANK_ACCOUNT = re.compile(r"^[A-Za-z0-9]{5,35}$")
NARRATION = re.compile(r"^[A-Za-z0-9 ]{0,30}$")
MODES = {"vpa": {"UPI"}, "bank_account": {"IMPS", "NEFT", "RTGS"}}
PURPOSES = {"refund", "cashback", "payout", "salary", "utility bill", "vendor bill"}
CONTACT_TYPES = {"vendor", "customer", "employee", "self"}


def _error(status: int, description: str, field: str | None = None) -> JSONResponse:
    error = {"code": "BAD_REQUEST_ERROR", "description": description, "field": field}
    return JSONResponse({"error": error}, status_code=status)


def _text(value: Any, pattern: re.Pattern[str] | None = None) -> bool:
    return (
        isinstance(value, str) and bool(value) and (pattern is None or bool(pattern.match(value)))
    )


def body_problem(body: Any) -> tuple[str, str] | None:
    """(field, description) of the first field Razorpay would refuse, or None."""
    if not isinstance(body, dict):
        return "body", "The request body must be a JSON object"
    checks: list[tuple[str, bool, str]] = [
        ("account_number", _text(body.get("account_number")), "The account number is required"),
        (
            "amount",
            type(body.get("amount")) is int and body["amount"] >= 100,
            "The amount must be an integer of at least 100 (paise)",
        ),
        ("currency", body.get("currency") == "INR", "Currency should be INR"),
        ("purpose", body.get("purpose") in PURPOSES, "The purpose is invalid"),
        (
            "queue_if_low_balance",
            isinstance(body.get("queue_if_low_balance", False), bool),
            "queue_if_low_balance must be a boolean",
        ),
        (
            "reference_id",
            isinstance(body.get("reference_id", ""), str)
            and len(body.get("reference_id", "")) <= 40,
            "The reference id may not be greater than 40 characters",
        ),
        (
            "narration",
            _text(body.get("narration", "x"), NARRATION),
            "The narration must be at most 30 letters, digits and spaces",
        ),
    ]
    for field, ok, description in checks:
        if not ok:
            return field, description
    return _fund_account_problem(body.get("fund_account"), body.get("mode"))


def _fund_account_problem(account: Any, mode: Any) -> tuple[str, str] | None:
    if not isinstance(account, dict) or account.get("account_type") not in MODES:
        return "fund_account.account_type", "The account type must be vpa or bank_account"
    account_type = account["account_type"]
    if mode not in MODES[account_type]:
        return "mode", f"The mode {mode!r} is not allowed for {account_type}"
    if account_type == "vpa":
        vpa = account.get("vpa")
        if not isinstance(vpa, dict) or not _text(vpa.get("address"), VPA):
            return "fund_account.vpa.address", "Invalid VPA. Please enter a valid VPA address"
    else:
        bank = account.get("bank_account")
        if not isinstance(bank, dict):
            return "fund_account.bank_account", "The bank account is required"
        if not _text(bank.get("name")):
            return "fund_account.bank_account.name", "The name field is required"
        if not _text(bank.get("ifsc"), IFSC):
            return "fund_account.bank_account.ifsc", "The ifsc must be 11 characters long"
        if not _text(bank.get("account_number"), BANK_ACCOUNT):
            return "fund_account.bank_account.account_number", "Invalid account number"
    contact = account.get("contact")
    if not isinstance(contact, dict) or not _text(contact.get("name")):
        return "fund_account.contact.name", "The contact name is required"
    if contact.get("type") not in CONTACT_TYPES:
        return "fund_account.contact.type", "Invalid contact type"
    return None


class RazorpayFake(LocalServer):
    """Razorpay X's payouts API on a free loopback port (an async context manager)."""

    def __init__(self, key_id: str = "rzp_test_key", key_secret: str = "rzp_test_secret") -> None:
        self.key_id, self.key_secret = key_id, key_secret
        self.payouts: dict[str, dict[str, Any]] = {}  # by payout id
        self.idempotency: dict[str, tuple[str, str]] = {}  # key -> (canonical body, payout id)
        self.calls = 0
        self.in_flight = 0  # calls received and not answered yet
        self.fail_next = 0
        self.fail_status = 500
        self.always_fail = False
        self.lose_answers = 0
        self.delay_seconds = 0.0
        self.payout_status = "processing"
        self.lookups = 0
        self.fail_lookups = 0
        super().__init__(self._app())

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            key_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(key_id, self.key_id) and hmac.compare_digest(
            secret, self.key_secret
        )

    def _create(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        payout_id = "pout_" + uuid.uuid4().hex[:14]
        status = self.payout_status
        rejected = status in {"rejected", "failed", "cancelled", "reversed"}
        self.payouts[payout_id] = {
            **body,
            "id": payout_id,
            "entity": "payout",
            "fund_account_id": "fa_" + uuid.uuid4().hex[:14],
            "fees": 0,
            "tax": 0,
            "status": status,
            "status_details": {"description": "Beneficiary bank rejected the payout"}
            if rejected
            else None,
            "utr": None,
            "idempotency_key": key,
        }
        return self.payouts[payout_id]

    async def _payout(self, request: Request) -> JSONResponse:
        self.calls += 1
        self.in_flight += 1
        try:
            return await self._answer(request)
        except ClientDisconnect:  # the caller hung up before the body was read: nothing paid
            return _error(499, "The client closed the request")
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> JSONResponse:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            return _error(self.fail_status, "The server encountered an error")
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, "Authentication failed")
        key = request.headers.get("x-payout-idempotency", "")
        if not key:
            return _error(400, "X-Payout-Idempotency header is required", "X-Payout-Idempotency")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "The request body is not valid JSON")
        problem = body_problem(body)
        if problem:
            return _error(400, problem[1], problem[0])
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        if key in self.idempotency:
            seen, payout_id = self.idempotency[key]
            if seen != canonical:
                return _error(400, "Different request body sent for the same idempotency header")
            payout = self.payouts[payout_id]
        else:
            payout = self._create(body, key)
            self.idempotency[key] = (canonical, payout["id"])
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return _error(500, "The server encountered an error")
        return JSONResponse(payout)

    async def _list(self, request: Request) -> JSONResponse:
        self.lookups += 1
        if self.fail_lookups > 0:
            self.fail_lookups -= 1
            return _error(500, "The server encountered an error")
        if not self._authorized(request.headers.get("authorization", "")):
            return _error(401, "Authentication failed")
        query = request.query_params
        if not query.get("account_number"):
            return _error(400, "The account number field is required", "account_number")
        items = [
            payout
            for payout in reversed(self.payouts.values())  # newest first
            if payout["account_number"] == query["account_number"]
            and query.get("reference_id") in (None, payout.get("reference_id"))
        ]
        return JSONResponse({"entity": "collection", "count": len(items), "items": items})

    def _app(self) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/v1/payouts", self._payout, methods=["POST"])
        app.add_api_route("/v1/payouts", self._list, methods=["GET"])
        return app
