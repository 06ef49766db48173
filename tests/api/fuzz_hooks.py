"""Schemathesis hooks of the OpenAPI fuzzing test (tests/api/test_openapi_fuzz.py).

Three things a schema cannot say, and only these, are handled here:
- a client sends a fresh Idempotency-Key with each new request (a reused key with another
  body is refused by design: 422 `idempotency_key_reused`);
- some schema-valid requests are refused because of what is stored or configured, not because
  of their shape: not enough credits, buying one's own listing, a redemption below its
  minimum, x402 while the server takes credits... Those refusals, and no others, are not
  counted as "schema-valid request rejected";
- DELETE on an agent, a listing or a catalog entry is a soft delete (the contract: it stays
  readable as `inactive` / `delisted` / `retired`), so reading it afterwards is not a use after
  free.
"""

import re
import uuid
from typing import Any

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

from api.deps import IDEMPOTENCY_KEY

# Problem codes that depend on stored state (balances, ownership, saved details, minimums
# from the settings), by status.
STATE_REFUSALS = {
    402: {"insufficient_credits"},
    422: {
        "own_listing",  # the caller is the listing's seller
        "self_transfer",  # the caller is the receiver
        "below_minimum",  # redemption minimums are settings
        "invalid_payout_details",  # checked against the saved payout method
        "x402_disabled",  # PAYMENT_MODE is a server setting
        # A catalog price range whose minimum is above its maximum: for PATCH against the stored
        # one; for POST JSON Schema has no way to compare two fields.
        "invalid_price_range",
        # What a webhook URL's host resolves to belongs to the network, not the request.
        "webhook_url_not_allowed",
        # Route candidates need distinct ids: JSON Schema's uniqueItems compares whole items.
        "duplicate_candidate",
    },
}
SOFT_DELETED = {"inactive", "delisted", "retired"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and re.fullmatch(IDEMPOTENCY_KEY, key):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the two kinds above."""
    if not isinstance(failure, RejectedPositiveData | UseAfterFree):
        return True
    try:
        body = response.json()
    except ValueError:
        return True
    if isinstance(failure, UseAfterFree):
        return body.get("status") not in SOFT_DELETED
    return body.get("code") not in STATE_REFUSALS.get(response.status_code, set())
