"""What differs between the two kinds of endpoint; everything else (queue, retries, pausing,
the SSRF guard) is shared.

- seller: the event's envelope, signed per Standard Webhooks; any 2xx is success. An endpoint
  made for a catalog subscription (filter `subscription_id`) takes only that subscription's
  `catalog_update` events.
- openclaw: `{message, sessionKey: "agentchains-<type>"}` with the gateway's bearer token,
  success on 200/202 only, and its own attempts, timeout and failure limit; its filters
  (`categories`, `min_urgency`) apply to events whose data carries those fields.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from core import signatures
from core.settings import Settings
from workflows.contracts.webhooks import EndpointKind


@dataclass(frozen=True)
class Rules:
    attempts: int  # per event
    timeout_seconds: float  # per attempt
    max_failures: int  # consecutive failed events before the endpoint is paused


class Kind(Protocol):
    def rules(self, settings: Settings) -> Rules: ...

    def wants(self, filters: dict[str, Any], envelope: dict[str, Any]) -> bool: ...

    def body(self, envelope: dict[str, Any]) -> str: ...

    def headers(
        self, secrets: list[str], message_id: str, timestamp: int, body: str
    ) -> dict[str, str]: ...

    def succeeded(self, status_code: int) -> bool: ...


def compact(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


class Seller:
    def rules(self, settings: Settings) -> Rules:
        return Rules(
            settings.webhook_max_attempts,
            settings.webhook_timeout_seconds,
            settings.webhook_max_failures,
        )

    def wants(self, filters: dict[str, Any], envelope: dict[str, Any]) -> bool:
        """A catalog subscription's endpoint takes only the events sent for that subscription."""
        wanted = filters.get("subscription_id")
        return wanted is None or envelope["data"].get("subscription_id") == wanted

    def body(self, envelope: dict[str, Any]) -> str:
        return compact(envelope)

    def headers(
        self, secrets: list[str], message_id: str, timestamp: int, body: str
    ) -> dict[str, str]:
        return signatures.headers(secrets, message_id, timestamp, body.encode())

    def succeeded(self, status_code: int) -> bool:
        return 200 <= status_code < 300


class OpenClaw:
    def rules(self, settings: Settings) -> Rules:
        return Rules(
            settings.openclaw_webhook_max_retries,
            settings.openclaw_webhook_timeout_seconds,
            settings.openclaw_webhook_max_failures,
        )

    def wants(self, filters: dict[str, Any], envelope: dict[str, Any]) -> bool:
        data = envelope["data"]
        categories = filters.get("categories") or []
        if categories and "category" in data and data["category"] not in categories:
            return False
        minimum = filters.get("min_urgency")
        if minimum is not None and "urgency" in data:
            return Decimal(str(data["urgency"])) >= Decimal(str(minimum))
        return True

    def body(self, envelope: dict[str, Any]) -> str:
        kind = envelope["type"]
        message = f"AgentChains {kind} at {envelope['timestamp']}: {compact(envelope['data'])}"
        return compact({"message": message, "sessionKey": f"agentchains-{kind}"})

    def headers(
        self, secrets: list[str], message_id: str, timestamp: int, body: str
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {secrets[0]}", "X-AgentChains-Event-Id": message_id}

    def succeeded(self, status_code: int) -> bool:
        return status_code in (200, 202)


KINDS: dict[str, Kind] = {EndpointKind.SELLER: Seller(), EndpointKind.OPENCLAW: OpenClaw()}
