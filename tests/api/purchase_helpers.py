"""Putting a listing on sale, opening a purchase, reading a wallet: as the purchase tests do."""

from typing import Any

import httpx

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
