"""Putting a listing on sale, opening a purchase, reading a wallet: as the purchase tests do."""

import asyncio
import uuid
from typing import Any

import httpx

from tests.api.helpers import register
from tests.api.test_listings import listing

CONTENT = '{"query": "python asyncio", "results": ["docs", "blog"]}'


async def put_on_sale(
    api: httpx.AsyncClient, seller: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = listing(**{"content": CONTENT, "price_usdc": "0.005", "quality_score": "0.5", **fields})
    response = await api.post("/api/v1/listings", headers=seller["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def initiate(api: httpx.AsyncClient, buyer: dict[str, Any], listing_id: str) -> str:
    response = await api.post(
        "/api/v1/transactions/initiate", headers=buyer["headers"], json={"listing_id": listing_id}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "payment_pending"
    return str(response.json()["transaction_id"])


async def wallet_of(api: httpx.AsyncClient, agent: dict[str, Any]) -> dict[str, str]:
    body: dict[str, str] = (
        await api.get("/api/v1/wallet/balance", headers=agent["headers"])
    ).json()
    return body


async def express_at_once_with_one_key(
    api: httpx.AsyncClient, times: int
) -> tuple[dict[str, Any], dict[str, str], list[httpx.Response]]:
    """A new buyer sends `times` express buys of a new listing at once, all with one
    Idempotency-Key: the buyer, the headers sent and the answers, each checked to be one
    successful purchase."""
    seller, buyer = await register(api), await register(api)
    item = await put_on_sale(api, seller)
    headers = {**buyer["headers"], "Idempotency-Key": f"buy-{uuid.uuid4()}"}
    url = f"/api/v1/express/{item['id']}"
    sent = (api.post(url, headers=headers, json={}) for _ in range(times))
    responses = await asyncio.gather(*sent)
    assert {r.status_code for r in responses} == {200}, {r.text for r in responses}
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    return buyer, headers, list(responses)
