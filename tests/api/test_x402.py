"""x402 mode end to end: the API, a real worker and Temporal, and a local facilitator over HTTP."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from tests.api.helpers import assert_problem, register
from tests.api.purchase_helpers import CONTENT, initiate, put_on_sale, wallet_of
from tests.ledger_helpers import assert_invariants, balances
from tests.x402_facilitator import Chain, Facilitator

Sessions = async_sessionmaker[AsyncSession]
PAY_TO = "0x" + "ab" * 20
PRICE = 5_000  # 0.005 USDC


@pytest.fixture
async def facilitator() -> AsyncIterator[Facilitator]:
    async with Facilitator() as running:
        yield running


@pytest.fixture
def settings(settings: Settings, facilitator: Facilitator) -> Settings:
    settings.payment_mode = "testnet"
    settings.x402_pay_to = PAY_TO
    settings.x402_facilitator_url = facilitator.url
    return settings


@pytest.fixture
def chain(facilitator: Facilitator) -> Chain:
    return facilitator.chain


async def _asked(api: httpx.AsyncClient, buyer: dict[str, Any], tx: str) -> dict[str, Any]:
    """Confirming without a payment answers 402 with what to pay."""
    refused = await api.post(f"/api/v1/transactions/{tx}/confirm-payment", headers=buyer["headers"])
    body = assert_problem(refused, 402, "payment_required")
    header = json.loads(base64.b64decode(refused.headers["PAYMENT-REQUIRED"]))
    assert header["accepts"] == body["accepts"] and body["x402Version"] == 2
    asked: dict[str, Any] = body["accepts"][0]
    return asked


async def _pay(
    api: httpx.AsyncClient, buyer: dict[str, Any], tx: str, payment: str
) -> httpx.Response:
    return await api.post(
        f"/api/v1/transactions/{tx}/confirm-payment",
        headers={**buyer["headers"], "X-PAYMENT": payment},
    )


async def test_four_steps_paid_with_x402(
    live: httpx.AsyncClient, chain: Chain, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    item = await put_on_sale(live, seller)
    initiated = await live.post(
        "/api/v1/transactions/initiate", headers=buyer["headers"], json={"listing_id": item["id"]}
    )
    details = initiated.json()["payment_details"]
    assert (details["pay_to_address"], details["simulated"]) == (PAY_TO, False)
    tx = initiated.json()["transaction_id"]
    asked = await _asked(live, buyer, tx)
    assert (asked["amount"], asked["payTo"], asked["scheme"]) == (str(PRICE), PAY_TO, "exact")
    before = await balances(sessions)

    paid = await _pay(live, buyer, tx, chain.pay(payer, asked))
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["status"], body["payment_method"]) == ("payment_confirmed", "x402")
    assert body["payment_tx_hash"].startswith("0x")
    assert chain.balances[payer] == 1_000_000 - PRICE and chain.balances[PAY_TO] == PRICE
    wallet = await wallet_of(live, buyer)  # the payment arrived as credits, held for the purchase
    assert (wallet["available"], wallet["held"]) == ("100.000", "5.000")

    paths = f"/api/v1/transactions/{tx}"
    await live.post(f"{paths}/deliver", headers=seller["headers"], json={"content": CONTENT})
    done = await live.post(f"{paths}/verify", headers=buyer["headers"])
    assert done.json()["status"] == "completed", done.text
    after = await balances(sessions)
    assert after[buyer["id"]] == before[buyer["id"]] == 100_000
    assert after[seller["id"]] == before[seller["id"]] + 4_900
    assert after["treasury"] - before["treasury"] == 50 and after["burn"] - before["burn"] == 50
    await assert_invariants(sessions)


async def test_a_payment_pays_one_purchase_only(
    live: httpx.AsyncClient, chain: Chain, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    item = await put_on_sale(live, seller)
    first = await initiate(live, buyer, item["id"])
    second = await initiate(live, buyer, item["id"])
    payment = chain.pay(payer, await _asked(live, buyer, first))
    assert (await _pay(live, buyer, first, payment)).status_code == 200
    again = await _pay(live, buyer, first, payment)
    assert_problem(again, 409, "invalid_state")
    assert_problem(await _pay(live, buyer, second, payment), 402, "payment_replayed")
    assert chain.balances[payer] == 1_000_000 - PRICE
    state = (await live.get(f"/api/v1/transactions/{second}", headers=buyer["headers"])).json()
    assert state["status"] == "payment_pending"
    await assert_invariants(sessions)


async def test_refused_payments_leave_the_purchase_payable(
    live: httpx.AsyncClient, chain: Chain
) -> None:
    seller, buyer = await register(live), await register(live)
    payer, broke = chain.wallet(funds=1_000_000), chain.wallet(funds=10)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    asked = await _asked(live, buyer, tx)
    short = chain.pay(payer, asked, value=PRICE - 1)
    assert_problem(await _pay(live, buyer, tx, short), 402, "payment_invalid")
    assert_problem(await _pay(live, buyer, tx, chain.pay(broke, asked)), 402, "payment_invalid")
    other_terms = chain.pay(payer, {**asked, "amount": "1"})
    assert_problem(await _pay(live, buyer, tx, other_terms), 402, "payment_invalid")
    assert_problem(await _pay(live, buyer, tx, "not base64 json"), 422, "payment_malformed")
    assert chain.settle_calls == 0 and chain.balances[payer] == 1_000_000
    assert (await _pay(live, buyer, tx, chain.pay(payer, asked))).status_code == 200


async def test_settlement_is_retried_until_the_facilitator_answers(
    live: httpx.AsyncClient, chain: Chain
) -> None:
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    payment = chain.pay(payer, await _asked(live, buyer, tx))
    chain.fail_settles = 2
    paid = await _pay(live, buyer, tx, payment)
    assert paid.status_code == 200, paid.text
    assert chain.settle_calls == 3 and chain.balances[payer] == 1_000_000 - PRICE


async def test_a_settlement_whose_answer_was_lost_is_credited_once(
    live: httpx.AsyncClient, chain: Chain, sessions: Sessions
) -> None:
    """The facilitator settles, its answer is lost; the retry is refused as already used, and
    the purchase asks the facilitator what became of the payment before deciding (ADR 0029)."""
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    payment = chain.pay(payer, await _asked(live, buyer, tx))
    chain.lose_settle_answers = 1
    before = await balances(sessions)
    paid = await _pay(live, buyer, tx, payment)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "payment_confirmed"
    [settled] = chain.settled.values()
    assert paid.json()["payment_tx_hash"] == settled.transaction
    assert chain.balances[payer] == 1_000_000 - PRICE  # paid once on chain
    assert chain.status_calls >= 1
    after = await balances(sessions)
    assert after["escrow"] - before["escrow"] == PRICE  # credited once and held
    wallet = await wallet_of(live, buyer)
    assert (wallet["available"], wallet["held"]) == ("100.000", "5.000")
    await assert_invariants(sessions)


async def test_express_survives_a_lost_settlement_answer(
    live: httpx.AsyncClient, chain: Chain, sessions: Sessions
) -> None:
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    item = await put_on_sale(live, seller)
    path, body = f"/api/v1/express/{item['id']}", {"payment_method": "x402"}
    asked = assert_problem(
        await live.post(path, headers=buyer["headers"], json=body), 402, "payment_required"
    )["accepts"][0]
    chain.lose_settle_answers = 1
    headers = {**buyer["headers"], "X-PAYMENT": chain.pay(payer, asked)}
    bought = await live.post(path, headers=headers, json=body)
    assert bought.status_code == 200, bought.text
    assert bought.json()["content"] == CONTENT
    assert chain.balances[payer] == 1_000_000 - PRICE
    await assert_invariants(sessions)


async def test_a_refused_settlement_stands_when_the_payment_was_not_settled(
    live: httpx.AsyncClient, chain: Chain
) -> None:
    """Asking first changes nothing for a payment the facilitator never settled."""
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    tx = await initiate(live, buyer, (await put_on_sale(live, seller))["id"])
    payment = chain.pay(payer, await _asked(live, buyer, tx))
    chain.refuse_settles = "insufficient_funds"  # spent elsewhere between verify and settle
    assert_problem(await _pay(live, buyer, tx, payment), 402, "payment_invalid")
    assert chain.settled == {} and chain.status_calls >= 1
    state = (await live.get(f"/api/v1/transactions/{tx}", headers=buyer["headers"])).json()
    assert state["status"] == "payment_pending"


async def test_express_with_x402(live: httpx.AsyncClient, chain: Chain, sessions: Sessions) -> None:
    seller, buyer = await register(live), await register(live)
    payer = chain.wallet(funds=1_000_000)
    item = await put_on_sale(live, seller)
    path, body = f"/api/v1/express/{item['id']}", {"payment_method": "x402"}
    refused = await live.post(path, headers=buyer["headers"], json=body)
    asked = assert_problem(refused, 402, "payment_required")["accepts"][0]
    headers = {**buyer["headers"], "X-PAYMENT": chain.pay(payer, asked), "Idempotency-Key": "x1"}
    answers = await asyncio.gather(*(live.post(path, headers=headers, json=body) for _ in range(3)))
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    assert {a.json()["transaction_id"] for a in answers} == {answers[0].json()["transaction_id"]}
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 2
    assert answers[0].json()["content"] == CONTENT
    assert chain.balances[payer] == 1_000_000 - PRICE
    assert (await balances(sessions))[buyer["id"]] == 100_000  # paid in USDC, not credits
    await assert_invariants(sessions)
