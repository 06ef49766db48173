"""An event as it leaves the server (feed, webhooks): `{id, type, timestamp, data}`.

Payloads keep money in integer units; here it becomes the contract's decimal strings:
`price_units` -> `price_usdc` ("0.005000"), any other `<name>_units` -> `<name>_ard` ("5.000").
"""

from typing import Any

from core.money import units_to_ard, units_to_usdc
from models.events import Event

_UNITS = "_units"


def envelope(event: Event) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.type,
        "timestamp": event.created_at.isoformat(),
        "data": present(event.payload),
    }


def present(payload: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in payload.items():
        if key == "price_units":
            shown["price_usdc"] = units_to_usdc(value)
        elif key.endswith(_UNITS) and isinstance(value, int):
            shown[key.removesuffix(_UNITS) + "_ard"] = units_to_ard(value)
        elif isinstance(value, dict):
            shown[key] = present(value)
        else:
            shown[key] = value
    return shown
