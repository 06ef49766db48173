import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import unit_of_work
from models.events import Event
from models.ledger import LedgerMovement
from tests.api.helpers import assert_problem, register
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances, mint

WALLET = "/api/v1/wallet"

Sessions = async_sessionmaker[AsyncSession]


async def _balance(api: httpx.AsyncClient, agent: dict[str, object]) -> dict[str, str]:
    response = await api.get(f"{WALLET}/balance", headers=agent["headers"])  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def test_registration_grants_the_signup_bonus(
    api: httpx.AsyncClient, sessions: Sessions
) -> None:
    agent = await register(api)
    wallet = await _balance(api, agent)
    assert wallet["balance"] == wallet["available"] == "100.000"
    assert (
        wallet["held"] == "0.000" and wallet["tier"] == "bronze" and wallet["token_name"] == "ARD"
    )
    assert wallet["usd_equivalent"] == "0.100000"
    history = (await api.get(f"{WALLET}/history", headers=agent["headers"])).json()
    assert [(e["tx_type"], e["direction"], e["amount"]) for e in history["entries"]] == [
        ("signup_bonus", "incoming", "100.000")
    ]
    await assert_invariants(sessions)


async def test_transfer_moves_exact_amounts(api: httpx.AsyncClient, sessions: Sessions) -> None:
    sender, receiver = await register(api), await register(api)
    before = await balances(sessions)
    response = await api.post(
        f"{WALLET}/transfer",
        headers=sender["headers"],
        json={"to_agent_id": receiver["id"], "amount": "10", "memo": "thanks"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount"], body["fee_amount"], body["burn_amount"]) == ("10.000", "0.200", "0.100")
    assert body["tx_type"] == "transfer" and body["memo"] == "thanks"

    after = await balances(sessions)
    assert after[sender["id"]] == 90_000
    assert after[receiver["id"]] == 100_000 + 9_800
    assert after["treasury"] - before["treasury"] == 100
    assert after["burn"] - before["burn"] == 100
    sent = await _balance(api, sender)
    assert sent["total_spent"] == "10.000" and sent["total_fees_paid"] == "0.200"
    assert (await _balance(api, receiver))["total_earned"] == "9.800"

    lines = (await api.get(f"{WALLET}/history", headers=sender["headers"])).json()["entries"]
    assert (lines[0]["direction"], lines[0]["amount"], lines[0]["fee_amount"]) == (
        "outgoing",
        "10.000",
        "0.200",
    )
    async with unit_of_work(sessions) as session:
        event = await session.scalar(
            select(Event).where(Event.type == "token_transfer").order_by(Event.sequence.desc())
        )
    assert event is not None and set(event.audience) == {sender["id"], receiver["id"]}
    await assert_invariants(sessions)


async def test_transfer_refusals(api: httpx.AsyncClient, sessions: Sessions) -> None:
    sender, receiver = await register(api), await register(api)
    send = f"{WALLET}/transfer"
    assert_problem(
        await api.post(
            send, headers=sender["headers"], json={"to_agent_id": sender["id"], "amount": 1}
        ),
        422,
        "self_transfer",
    )
    assert_problem(
        await api.post(
            send, headers=sender["headers"], json={"to_agent_id": str(uuid.uuid4()), "amount": 1}
        ),
        404,
        "agent_not_found",
    )
    assert_problem(
        await api.post(
            send,
            headers=sender["headers"],
            json={"to_agent_id": receiver["id"], "amount": "100.001"},
        ),
        402,
        "insufficient_credits",
    )
    assert_problem(await api.post(send, json={"to_agent_id": receiver["id"], "amount": 1}), 401)
    assert (await _balance(api, sender))["balance"] == "100.000"


async def test_an_agent_deactivated_after_it_was_paid_is_paid_no_more(
    api: httpx.AsyncClient, sessions: Sessions
) -> None:
    """The API process knows the receiver's account from the first transfer; after the receiver
    deactivates itself, the next transfer to it is refused and moves nothing."""
    sender, receiver = await register(api), await register(api)
    send = f"{WALLET}/transfer"
    paid = await api.post(
        send, headers=sender["headers"], json={"to_agent_id": receiver["id"], "amount": 1}
    )
    assert paid.status_code == 201, paid.text
    gone = await api.delete(f"/api/v1/agents/{receiver['id']}", headers=receiver["headers"])
    assert gone.status_code == 200, gone.text
    before = await balances(sessions)
    assert_problem(
        await api.post(
            send, headers=sender["headers"], json={"to_agent_id": receiver["id"], "amount": 1}
        ),
        404,
        "agent_not_found",
    )
    assert await balances(sessions) == before
    await assert_invariants(sessions)


@pytest.mark.parametrize(
    "amount",
    [
        "0.0001",
        0,
        "0",
        -1,
        "-5",
        "NaN",
        "nan",
        "Infinity",
        "1e400",
        "1000000000.001",
        10**12,
        "ten",
        "",
        None,
        True,
        [1],
        {"v": 1},
        "1,5",
        "0x10",
    ],
)
async def test_bad_amounts_are_422_and_write_nothing(
    api: httpx.AsyncClient, sessions: Sessions, amount: object
) -> None:
    sender, receiver = await register(api), await register(api)
    async with unit_of_work(sessions) as session:
        movements = await session.scalar(select(func.count(LedgerMovement.id)))
    response = await api.post(
        f"{WALLET}/transfer",
        headers=sender["headers"],
        json={"to_agent_id": receiver["id"], "amount": amount},
    )
    assert_problem(response, 422, "validation_error")
    async with unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count(LedgerMovement.id))) == movements


async def test_same_key_50_times_moves_once(api: httpx.AsyncClient, sessions: Sessions) -> None:
    sender, receiver = await register(api), await register(api)
    headers = {**sender["headers"], "Idempotency-Key": f"pay-{uuid.uuid4()}"}
    body = {"to_agent_id": receiver["id"], "amount": "1.5"}
    responses = await asyncio.gather(
        *(api.post(f"{WALLET}/transfer", headers=headers, json=body) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    assert len({r.text for r in responses}) == 1
    assert (await balances(sessions))[sender["id"]] == 100_000 - 1_500
    reused = await api.post(f"{WALLET}/transfer", headers=headers, json={**body, "amount": "2"})
    assert_problem(reused, 422, "idempotency_key_reused")
    assert (await balances(sessions))[sender["id"]] == 100_000 - 1_500


async def test_tier_discount_follows_volume(api: httpx.AsyncClient, sessions: Sessions) -> None:
    whale, friend = await register(api), await register(api)
    await mint(sessions, whale["id"], 20_000_000)
    first = await api.post(
        f"{WALLET}/transfer",
        headers=whale["headers"],
        json={"to_agent_id": friend["id"], "amount": "10000"},
    )
    assert first.json()["fee_amount"] == "200.000"  # bronze: no discount yet
    assert (await _balance(api, whale))["tier"] == "silver"
    second = await api.post(
        f"{WALLET}/transfer",
        headers=whale["headers"],
        json={"to_agent_id": friend["id"], "amount": "1000"},
    )
    assert second.json()["fee_amount"] == "18.000"  # silver: 10% off the 2% fee


async def test_public_reference_routes(api: httpx.AsyncClient, sessions: Sessions) -> None:
    await register(api)
    supply = (await api.get(f"{WALLET}/supply")).json()
    parts = (
        "circulating",
        "platform_balance",
        "in_escrow",
        "payout_clearing",
        "total_burned",
        "total_paid_out",
    )
    from decimal import Decimal

    assert Decimal(supply["total_minted"]) == sum(Decimal(supply[p]) for p in parts)
    tiers = (await api.get(f"{WALLET}/tiers")).json()["tiers"]
    assert [(t["name"], t["min_ard"], t["discount_pct"]) for t in tiers] == [
        ("bronze", 0, 0),
        ("silver", 10_000, 10),
        ("gold", 100_000, 25),
        ("platinum", 1_000_000, 50),
    ]
    currencies = {
        c["code"]: c for c in (await api.get(f"{WALLET}/currencies")).json()["currencies"]
    }
    assert currencies["INR"]["rate_per_ard"] == "0.084"
    assert currencies["USD"]["ard_per_unit"] == "1000.000"


async def test_ledger_verify_is_for_operators(api: httpx.AsyncClient, operator_token: str) -> None:
    agent = await register(api)
    report = await api.get(f"{WALLET}/ledger/verify", headers=bearer(operator_token))
    assert report.status_code == 200 and report.json()["valid"] is True
    assert report.json()["entries_checked"] >= 1
    assert_problem(await api.get(f"{WALLET}/ledger/verify", headers=agent["headers"]), 403)
