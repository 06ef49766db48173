"""Redemptions as their tests drive them: a creator with credits, a redemption opened, and one
followed to its end."""

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.test_creators import register_creator
from tests.ledger_helpers import mint

Sessions = async_sessionmaker[AsyncSession]
REDEMPTIONS = "/api/v1/redemptions"
UPI = {"upi_id": "asha.rao@okaxis"}
BANK = {
    "account_holder_name": "Asha Rao",
    "account_number": "1121431121541121",
    "ifsc": "HDFC0000053",
}
FINAL = {"completed", "cancelled", "rejected", "failed"}


async def creator_with(api: httpx.AsyncClient, sessions: Sessions, ard: int) -> dict[str, Any]:
    creator = await register_creator(api)
    creator["id"] = creator["creator"]["id"]
    if ard:
        await mint(sessions, creator["id"], ard * 1000, owner_kind="creator")
    return creator


async def redeem(
    api: httpx.AsyncClient, creator: dict[str, Any], kind: str, ard: str, **body: Any
) -> httpx.Response:
    payload = {"redemption_type": kind, "amount_ard": ard, **body}
    return await api.post(REDEMPTIONS, headers=creator["headers"], json=payload)


async def settled(api: httpx.AsyncClient, creator: dict[str, Any], rid: str) -> dict[str, Any]:
    """The redemption once its workflow has closed it."""
    for _ in range(300):
        body: dict[str, Any] = (
            await api.get(f"{REDEMPTIONS}/{rid}", headers=creator["headers"])
        ).json()
        if body["status"] in FINAL:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"redemption {rid} stayed {body['status']}")


async def pending(api: httpx.AsyncClient, creator: dict[str, Any], ard: str = "5000") -> str:
    opened = await redeem(api, creator, "upi", ard, currency="INR", payout_details=UPI)
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "pending"
    return str(opened.json()["id"])
