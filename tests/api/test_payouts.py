"""Monthly payouts and creator royalties, through the API with a real worker and Temporal."""

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core import ids
from core.db import unit_of_work
from core.settings import Settings
from models.redemptions import Redemption
from tests.api.helpers import register
from tests.api.purchase_helpers import put_on_sale
from tests.api.redemption_helpers import UPI, creator_with
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances, fund_treasury
from workflows.contracts.payout import MONTHLY_PAYOUT, PayoutRunSummary

Sessions = async_sessionmaker[AsyncSession]


async def test_a_month_is_paid_once_however_often_the_run_starts(
    live: httpx.AsyncClient,
    sessions: Sessions,
    settings: Settings,
    temporal_dev: WorkflowEnvironment,
    operator_token: str,
) -> None:
    upi = {"payout_method": "upi", "payout_details": UPI}
    paid = await creator_with(live, sessions, 12_000)
    no_method = await creator_with(live, sessions, 12_000)
    too_little = await creator_with(live, sessions, 9_999)
    for creator, profile in ((paid, upi), (too_little, upi)):
        saved = await live.put("/api/v1/creators/me", headers=creator["headers"], json=profile)
        assert saved.status_code == 200, saved.text
    before = await balances(sessions)
    period = f"2031-{uuid.uuid4().int % 12 + 1:02d}"  # a month no other test pays

    async def run(attempt: int) -> PayoutRunSummary:
        return await temporal_dev.client.execute_workflow(
            MONTHLY_PAYOUT.name,
            period,
            id=f"{ids.payout_run_workflow(period)}:{attempt}",
            task_queue=settings.temporal_task_queue,
            result_type=PayoutRunSummary,
        )

    first, second = await run(1), await run(2)
    assert first.creators_paid >= 1 and second.creators_paid == first.creators_paid
    after = await balances(sessions)
    assert after[paid["id"]] == 0
    assert after[no_method["id"]] == after[too_little["id"]] + 2_001_000 == 12_000_000
    async with unit_of_work(sessions) as session:
        payouts = list(
            await session.scalars(
                select(Redemption).where(Redemption.creator_id == uuid.UUID(paid["id"]))
            )
        )
    assert [(p.period, p.status, p.amount_units) for p in payouts] == [
        (period, "completed", 12_000_000)
    ]
    assert payouts[0].workflow_id == ids.payout_workflow(uuid.UUID(paid["id"]), period)
    assert after["paid_out"] - before["paid_out"] >= 12_000_000
    runs = (await live.get("/api/v1/payouts", headers=bearer(operator_token))).json()
    [listed] = [r for r in runs["payouts"] if r["period"] == period]
    assert (listed["runs"], listed["status"]) == (2, "completed")
    await assert_invariants(sessions)


async def test_a_claimed_agents_sales_reach_its_creator(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    creator = await creator_with(live, sessions, 0)
    seller, buyer = await register(live), await register(live)
    claimed = await live.post(
        f"/api/v1/creators/me/agents/{seller['id']}/claim",
        headers={**creator["headers"], "X-Agent-Token": seller["jwt_token"]},
    )
    assert claimed.status_code == 200, claimed.text
    item = await put_on_sale(live, seller, quality_score="0.9")  # earns the quality bonus
    await fund_treasury(sessions, 10_000)
    before = await balances(sessions)
    bought = await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    assert bought.status_code == 200, bought.text
    after = await balances(sessions)
    assert after[creator["id"]] - before.get(creator["id"], 0) == 4_900  # all the proceeds
    assert (
        after[seller["id"]] - before[seller["id"]] == 50
    )  # the bonus (half the fee: ADR 0030) stays
    dashboard = (await live.get("/api/v1/creators/me/dashboard", headers=creator["headers"])).json()
    assert dashboard["creator_balance"] == "4.900"
    await assert_invariants(sessions)


async def test_agents_of_one_creator_earn_no_bonus_from_each_other(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    creator = await creator_with(live, sessions, 0)
    seller, buyer = await register(live), await register(live)
    for agent in (seller, buyer):
        claimed = await live.post(
            f"/api/v1/creators/me/agents/{agent['id']}/claim",
            headers={**creator["headers"], "X-Agent-Token": agent["jwt_token"]},
        )
        assert claimed.status_code == 200, claimed.text
    item = await put_on_sale(live, seller, quality_score="0.9")
    await fund_treasury(sessions, 10_000)
    before = await balances(sessions)
    await live.post(f"/api/v1/express/{item['id']}", headers=buyer["headers"], json={})
    after = await balances(sessions)
    assert after[seller["id"]] == before[seller["id"]]
    assert after[creator["id"]] - before[creator["id"]] == 4_900
    assert after["treasury"] - before["treasury"] == 50
    await assert_invariants(sessions)
