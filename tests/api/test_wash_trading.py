"""Wash trading: two unrelated agents buying each other's self-declared high-quality listings
back and forth must lose money on every round trip (ADR 0030), through the API with a real
worker and Temporal."""

from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.money import ard_to_units
from tests.api.helpers import register
from tests.api.purchase_helpers import put_on_sale
from tests.ledger_helpers import assert_invariants, balances, fund_treasury

Sessions = async_sessionmaker[AsyncSession]
ROUND_TRIPS = 5


async def test_a_wash_trading_loop_loses_money_every_round_trip(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    alice, bob = await register(live), await register(live)
    # Both declare the best quality there is, to earn the quality bonus on every sale.
    listed = {
        agent["id"]: await put_on_sale(live, agent, quality_score="1.0") for agent in (alice, bob)
    }
    await fund_treasury(sessions, 10_000_000)  # the treasury can always pay the bonus

    async def together() -> int:
        now = await balances(sessions)
        return now[alice["id"]] + now[bob["id"]]

    start = previous = await together()
    bonuses = 0
    for _ in range(ROUND_TRIPS):
        for buyer, seller in ((alice, bob), (bob, alice)):
            earned = (await balances(sessions))[seller["id"]]
            bought = await live.post(
                f"/api/v1/express/{listed[seller['id']]['id']}", headers=buyer["headers"], json={}
            )
            assert bought.status_code == 200, bought.text
            body = bought.json()
            proceeds = ard_to_units(Decimal(body["amount_ard"])) - ard_to_units(
                Decimal(body["fee_ard"])
            )
            bonuses += (await balances(sessions))[seller["id"]] - earned - proceeds
        now = await together()
        assert now < previous, "a round trip between two agents must cost them money"
        previous = now
    assert previous < start
    assert bonuses > 0, "the quality bonus was paid: the loop loses money despite it"
    await assert_invariants(sessions)
