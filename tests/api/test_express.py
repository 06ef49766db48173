"""Express purchases end to end (one call: hold, deliver, verify, settle): the API, a real worker
and a real Temporal server."""

import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.db import unit_of_work
from domain import events
from tests.api.helpers import assert_problem, register
from tests.api.purchase_helpers import (
    CONTENT,
    express_at_once_with_one_key,
    put_on_sale,
    wallet_of,
)
from tests.ledger_helpers import assert_invariants, balances

Sessions = async_sessionmaker[AsyncSession]


async def test_express_buys_in_one_call(live: httpx.AsyncClient, sessions: Sessions) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    response = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == CONTENT and body["content_hash"] == item["content_hash"]
    assert body["buyer_balance"] == "95.000" and body["fee_ard"] == "0.100"
    assert int(response.headers["X-Delivery-Ms"]) == body["delivery_ms"] >= 0
    await assert_invariants(sessions)


async def test_express_without_credits_is_402_and_leaves_no_hold(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller, **{"price_usdc": "0.5"})  # 500 ARD > 100
    response = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert_problem(response, 402, "insufficient_credits")
    wallet = await wallet_of(live, buyer)
    assert (wallet["available"], wallet["held"]) == ("100.000", "0.000")
    await assert_invariants(sessions)


async def test_same_key_express_20_times_charges_once(
    live: httpx.AsyncClient, sessions: Sessions, temporal_dev: WorkflowEnvironment
) -> None:
    buyer, headers, responses = await express_at_once_with_one_key(live, 20)
    listing_id = responses[0].json()["listing_id"]
    later = await live.post(f"/api/v1/express/{listing_id}", headers=headers, json={})
    fields = ("transaction_id", "content", "fee_ard", "buyer_balance")
    assert [later.json()[f] for f in fields] == [responses[0].json()[f] for f in fields]
    assert later.headers["Idempotent-Replayed"] == "true"
    workflow_id = f"purchase:{later.json()['transaction_id']}"
    runs = temporal_dev.client.list_workflows(f"WorkflowId = '{workflow_id}'")
    assert len([r async for r in runs]) == 1  # the closed purchase was not started again
    assert (await balances(sessions))[buyer["id"]] == 95_000
    await assert_invariants(sessions)


async def test_concurrent_express_buys_stop_at_the_balance(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller, **{"price_usdc": "0.007"})  # 7 ARD: 100 ARD covers 14
    responses = await asyncio.gather(
        *(
            live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
            for _ in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 14 + [402] * 36, [r.text for r in responses if r.status_code != 200]
    assert (await balances(sessions))[buyer["id"]] == 2_000
    assert (await wallet_of(live, buyer))["held"] == "0.000"
    await assert_invariants(sessions)


async def test_express_announces_itself_and_operators_can_find_it(
    live: httpx.AsyncClient, sessions: Sessions, temporal_dev: WorkflowEnvironment
) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    tx = bought.json()["transaction_id"]
    async with unit_of_work(sessions) as session:
        announced = [
            e.type
            for e in await events.after(
                session, events.START, ["transaction_completed", "express_purchase"]
            )
            if e.payload["transaction_id"] == tx
        ]
    assert announced == ["transaction_completed", "express_purchase"]
    query = (
        f"AgentId = '{seller['id']}' AND ListingId = '{item['id']}'"
        " AND TransactionStatus = 'completed'"
    )
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in temporal_dev.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"purchase:{tx}"]


async def test_x402_express_needs_x402_mode(live: httpx.AsyncClient) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    refused = await live.post(
        f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={"payment_method": "x402"}
    )
    assert_problem(refused, 422, "x402_disabled")
