"""Purchases in four steps end to end: the API, a real worker and a real Temporal server."""

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.db import unit_of_work
from core.settings import Settings
from domain import purchases
from domain.content.store import content_key, open_store
from models.purchases import VerificationRecord
from tests.api.helpers import assert_problem, json_of, once, register
from tests.api.purchase_helpers import CONTENT, initiate, put_on_sale, wallet_of
from tests.conftest import StartWorker
from tests.ledger_helpers import assert_invariants, balances
from workflows.contracts import task_queue
from workflows.contracts.purchase import PURCHASE, PURCHASES, PurchaseState, PurchaseTerms

Sessions = async_sessionmaker[AsyncSession]


async def test_four_steps_with_exact_balances(live: httpx.AsyncClient, sessions: Sessions) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    before = await balances(sessions)
    tx = await initiate(live, buyer, item["id"])
    paths = f"/api/v1/transactions/{tx}"

    paid = await live.post(f"{paths}/confirm-payment", headers=buyer["headers"])
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "payment_confirmed"
    wallet = await wallet_of(live, buyer)
    assert (wallet["available"], wallet["held"], wallet["balance"]) == (
        "95.000",
        "5.000",
        "100.000",
    )

    delivered = await live.post(
        f"{paths}/deliver", headers=seller["headers"], json={"content": CONTENT}
    )
    assert delivered.json()["status"] == "delivered"
    fetched = await live.get(f"{paths}/content", headers=buyer["headers"])
    assert fetched.text == CONTENT and fetched.headers["content-type"] == "application/json"

    done = await live.post(f"{paths}/verify", headers=buyer["headers"])
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["verification_status"], body["fee_ard"]) == (
        "completed",
        "verified",
        "0.100",
    )
    after = await balances(sessions)
    assert after[buyer["id"]] == 95_000
    assert after[seller["id"]] == 100_000 + 4_900
    assert after["treasury"] - before["treasury"] == 50
    assert after["burn"] - before["burn"] == 50
    assert after["escrow"] == before["escrow"]
    assert (await wallet_of(live, buyer))["held"] == "0.000"
    await assert_invariants(sessions)


async def test_mismatched_delivery_is_disputed_and_refunded(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    paths = f"/api/v1/transactions/{tx}"
    await live.post(f"{paths}/confirm-payment", headers=buyer["headers"])
    await live.post(f"{paths}/deliver", headers=seller["headers"], json={"content": "forged"})
    verdict = (await live.post(f"{paths}/verify", headers=buyer["headers"])).json()
    assert (verdict["status"], verdict["verification_status"]) == ("disputed", "failed")
    wallet = await wallet_of(live, buyer)
    assert (wallet["available"], wallet["held"]) == ("100.000", "0.000")
    await assert_invariants(sessions)


async def test_parties_and_states(live: httpx.AsyncClient) -> None:
    seller, buyer, stranger = await register(live), await register(live), await register(live)
    item = await put_on_sale(live, seller)
    tx = await initiate(live, buyer, item["id"])
    paths = f"/api/v1/transactions/{tx}"
    assert_problem(await live.get(paths, headers=stranger["headers"]), 404)
    assert_problem(await live.post(f"{paths}/confirm-payment", headers=stranger["headers"]), 404)
    assert_problem(await live.post(f"{paths}/confirm-payment", headers=seller["headers"]), 403)
    assert_problem(
        await live.post(f"{paths}/deliver", headers=buyer["headers"], json={"content": "x"}), 403
    )
    assert_problem(
        await live.post(f"{paths}/deliver", headers=seller["headers"], json={"content": "x"}),
        409,
        "invalid_state",
    )
    assert (
        await live.post(f"{paths}/confirm-payment", headers=buyer["headers"])
    ).status_code == 200
    assert_problem(await live.post(f"{paths}/confirm-payment", headers=buyer["headers"]), 409)
    assert_problem(await live.post(f"{paths}/verify", headers=buyer["headers"]), 409)
    mine = (
        await live.get("/api/v1/transactions", headers=seller["headers"], params={"role": "seller"})
    ).json()
    assert tx in {t["id"] for t in mine["transactions"]}
    assert (await live.get(paths, headers=seller["headers"])).json()[
        "status"
    ] == "payment_confirmed"


async def test_own_and_inactive_listings_are_refused(live: httpx.AsyncClient) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    own = await live.post(
        "/api/v1/transactions/initiate", headers=seller["headers"], json={"listing_id": item["id"]}
    )
    assert_problem(own, 422, "own_listing")
    await live.put(
        f"/api/v1/listings/{item['id']}", headers=seller["headers"], json={"status": "paused"}
    )
    paused = await live.post(
        "/api/v1/transactions/initiate", headers=buyer["headers"], json={"listing_id": item["id"]}
    )
    assert_problem(paused, 409, "listing_inactive")
    unknown = await live.post(
        "/api/v1/transactions/initiate",
        headers=buyer["headers"],
        json={"listing_id": str(uuid.uuid4())},
    )
    assert_problem(unknown, 404, "listing_not_found")


async def test_undelivered_purchase_expires_and_refunds(
    live: httpx.AsyncClient,
    settings: Settings,
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
) -> None:
    settings.purchase_delivery_timeout = 2  # the seller has two seconds to deliver
    seller, buyer = await register(live), await register(live)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    paid = await live.post(f"/api/v1/transactions/{tx}/confirm-payment", headers=buyer["headers"])
    assert paid.status_code == 200 and (await balances(sessions))[buyer["id"]] == 95_000
    handle = temporal_dev.client.get_workflow_handle(f"purchase:{tx}", result_type=PurchaseState)
    assert (await handle.result()).status == "expired"
    assert (await balances(sessions))[buyer["id"]] == 100_000
    late = await live.post(
        f"/api/v1/transactions/{tx}/deliver", headers=seller["headers"], json={"content": CONTENT}
    )
    assert_problem(late, 409, "invalid_state")
    await assert_invariants(sessions)


async def test_unpaid_purchase_expires_on_the_time_skipping_server(
    settings: Settings,
    sessions: Sessions,
    api: httpx.AsyncClient,
    temporal_time_skipping: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    seller, buyer = await register(api), await register(api)
    item = await put_on_sale(api, seller)
    async with unit_of_work(sessions) as session:
        tx, _ = await purchases.open_purchase(
            session, uuid.uuid4(), uuid.UUID(buyer["id"]), item["id"], express=False
        )
    await start_worker(temporal_time_skipping.client)
    result = await temporal_time_skipping.client.execute_workflow(
        PURCHASE.name,
        PurchaseTerms(purchase=PurchaseState.model_validate(tx), window_seconds=86_400),
        id=tx.workflow_id,
        task_queue=task_queue(settings.temporal_task_queue, PURCHASES),
        result_type=PurchaseState,
    )  # nobody pays: a day passes in moments
    assert result.status == "expired"
    assert (await balances(sessions))[buyer["id"]] == 100_000


async def test_reputation_follows_closed_purchases(live: httpx.AsyncClient) -> None:
    seller, buyer = await register(live), await register(live)
    fresh = (await live.get(f"/api/v1/reputation/{seller['id']}")).json()
    assert fresh["composite_score"] == "0.500" and fresh["total_transactions"] == 0
    item = await put_on_sale(live, seller)
    assert (
        await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    ).status_code == 200
    of_seller = json_of(live, f"/api/v1/reputation/{seller['id']}")
    sold = await once(of_seller, lambda r: r["total_transactions"] == 1)
    # delivered 1/1, verified 1/1, delivered within a second, 1 transaction of 100
    assert sold["composite_score"] == "0.901", sold
    assert (sold["sales_completed"], sold["total_volume_usdc"]) == (1, "0.005000")

    tx = await initiate(live, buyer, item["id"])
    paths = f"/api/v1/transactions/{tx}"
    await live.post(f"{paths}/confirm-payment", headers=buyer["headers"])
    await live.post(f"{paths}/deliver", headers=seller["headers"], json={"content": "forged"})
    verdict = await live.post(f"{paths}/verify", headers=buyer["headers"])
    assert verdict.json()["status"] == "disputed", verdict.text
    disputed = await once(of_seller, lambda r: r["total_transactions"] == 2)
    assert disputed["sales_disputed"] == 1
    # delivered 2/2, verified 1/2, fast, 2 transactions: 0.4 + 0.15 + 0.2 + 0.002
    assert disputed["composite_score"] == "0.752", disputed
    assert (await live.get(f"/api/v1/reputation/{buyer['id']}")).json()["purchases"] == 2
    board = (await live.get("/api/v1/reputation/leaderboard", params={"limit": 100})).json()
    ranks = [e["rank"] for e in board["entries"]]
    assert ranks == list(range(1, len(ranks) + 1))
    assert seller["id"] in {e["agent_id"] for e in board["entries"]}
    assert_problem(await live.get("/api/v1/reputation/nobody"), 404)


async def test_initiate_with_the_same_key_is_the_same_purchase(live: httpx.AsyncClient) -> None:
    seller, buyer = await register(live), await register(live)
    item, other = await put_on_sale(live, seller), await put_on_sale(live, seller)
    headers = {**buyer["headers"], "Idempotency-Key": f"order-{uuid.uuid4()}"}
    path = "/api/v1/transactions/initiate"
    first = await live.post(path, headers=headers, json={"listing_id": item["id"]})
    again = await live.post(path, headers=headers, json={"listing_id": item["id"]})
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["transaction_id"] == again.json()["transaction_id"]
    assert first.headers["Location"].endswith(first.json()["transaction_id"])
    reused = await live.post(path, headers=headers, json={"listing_id": other["id"]})
    assert_problem(reused, 422, "idempotency_key_reused")


async def test_parties_check_content_against_the_listing(live: httpx.AsyncClient) -> None:
    seller, buyer, stranger = await register(live), await register(live), await register(live)
    item = await put_on_sale(live, seller)
    tx = await initiate(live, buyer, item["id"])
    genuine = await live.post(
        "/api/v1/verify", headers=buyer["headers"], json={"transaction_id": tx, "content": CONTENT}
    )
    assert genuine.status_code == 200, genuine.text
    assert genuine.json() == {
        "verified": True,
        "expected_hash": item["content_hash"],
        "actual_hash": item["content_hash"],
    }
    forged = await live.post(
        "/api/v1/verify", headers=seller["headers"], json={"transaction_id": tx, "content": "x"}
    )
    assert forged.json()["verified"] is False
    assert forged.json()["actual_hash"] != item["content_hash"]
    outsider = await live.post(
        "/api/v1/verify", headers=stranger["headers"], json={"transaction_id": tx, "content": "x"}
    )
    assert_problem(outsider, 404, "transaction_not_found")
    state = (await live.get(f"/api/v1/transactions/{tx}", headers=buyer["headers"])).json()
    assert (state["status"], state["verification_status"]) == ("payment_pending", "pending")


async def test_a_retried_verification_records_nothing_new(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    tx = uuid.UUID(bought.json()["transaction_id"])
    async with unit_of_work(sessions) as session:  # the step again, as a retry would run it
        assert await purchases.record_verification(session, tx, "sha256:forged", False)
    async with unit_of_work(sessions) as session:
        records = await session.scalars(
            select(VerificationRecord).where(VerificationRecord.transaction_id == tx)
        )
        assert [r.matched for r in records] == [True]


@pytest.mark.parametrize("ending", ["express", "four_steps", "disputed"])
async def test_every_step_of_a_closed_purchase_is_invalid_state(
    live: httpx.AsyncClient, settings: Settings, sessions: Sessions, ending: str
) -> None:
    """Confirm, deliver and verify on a purchase whose workflow has closed answer 409 from the
    purchase's state, and a late delivery stores nothing."""
    seller, buyer = await register(live), await register(live)
    item = await put_on_sale(live, seller)
    if ending == "express":
        bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"])
        assert bought.status_code == 200, bought.text
        tx = bought.json()["transaction_id"]
    else:
        tx = await initiate(live, buyer, item["id"])
        paths = f"/api/v1/transactions/{tx}"
        await live.post(f"{paths}/confirm-payment", headers=buyer["headers"])
        delivered = CONTENT if ending == "four_steps" else "forged"
        await live.post(f"{paths}/deliver", headers=seller["headers"], json={"content": delivered})
        closed = await live.post(f"{paths}/verify", headers=buyer["headers"])
        assert closed.json()["status"] == ("completed" if ending == "four_steps" else "disputed")
    paths = f"/api/v1/transactions/{tx}"
    late = b"a delivery after the purchase closed"
    steps = [
        (f"{paths}/confirm-payment", buyer["headers"], None),
        (f"{paths}/deliver", seller["headers"], {"content": late.decode()}),
        (f"{paths}/verify", buyer["headers"], None),
    ]
    for path, headers, body in steps:
        refused = assert_problem(await live.post(path, headers=headers, json=body), 409)
        assert refused["code"] == "invalid_state" and "This purchase is" in refused["detail"]
    assert not await open_store(settings.content_store_path).exists(content_key(late))
    await assert_invariants(sessions)
