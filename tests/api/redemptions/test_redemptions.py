"""Opening, deciding and completing redemptions: minimums, who may act, every decision from
every state, one redemption per key, exact balances. The payout attempts themselves (retries,
pauses, lost answers, rejections between attempts): test_payout_attempts.py."""

import asyncio
import uuid

import httpx
import pytest

from core.db import unit_of_work
from domain import creators, events
from tests.api.helpers import assert_problem, register
from tests.api.redemption_helpers import (
    BANK,
    REDEMPTIONS,
    UPI,
    Sessions,
    creator_with,
    pending,
    redeem,
    settled,
)
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances
from tests.razorpay_fake import RazorpayFake


async def test_api_credits_complete_at_once(live: httpx.AsyncClient, sessions: Sessions) -> None:
    creator = await creator_with(live, sessions, 1_000)
    before = await balances(sessions)
    opened = await redeem(live, creator, "api_credits", "100")
    assert opened.status_code == 201, opened.text
    assert opened.headers["Location"].endswith(opened.json()["id"])
    done = await settled(live, creator, opened.json()["id"])
    assert done["status"] == "completed"
    assert [s["status"] for s in done["steps"]] == ["pending", "completed"]
    async with unit_of_work(sessions) as session:
        kinds = ["redemption_created", "redemption_completed"]
        told = [
            (e.type, e.audience)
            for e in await events.after(session, events.START, kinds)
            if e.payload["redemption_id"] == done["id"]
        ]
    assert told == [(kind, [creator["id"]]) for kind in kinds]  # only the creator hears
    after = await balances(sessions)
    assert after[creator["id"]] == 900_000
    assert after["paid_out"] - before["paid_out"] == 100_000
    assert after["payout_clearing"] == before["payout_clearing"]
    wallet = (await live.get("/api/v1/creators/me/wallet", headers=creator["headers"])).json()
    assert (wallet["available"], wallet["held"], wallet["total_redeemed"]) == (
        "900.000",
        "0.000",
        "100.000",
    )
    await assert_invariants(sessions)


async def test_minimums_details_and_funds(live: httpx.AsyncClient, sessions: Sessions) -> None:
    creator = await creator_with(live, sessions, 6_000)
    for kind, ard, details in (
        ("api_credits", "99.999", {}),
        ("gift_card", "999", {"email": "a@example.com"}),
        ("upi", "4999", UPI),
        ("bank_withdrawal", "9999.999", BANK),
    ):
        refused = await redeem(live, creator, kind, ard, payout_details=details)
        assert_problem(refused, 422, "below_minimum")
    no_details = await redeem(live, creator, "upi", "5000")
    assert_problem(no_details, 422, "invalid_payout_details")
    too_much = await redeem(live, creator, "upi", "6000.001", payout_details=UPI)
    assert_problem(too_much, 402, "insufficient_credits")
    methods = (await live.get(f"{REDEMPTIONS}/methods")).json()["methods"]
    assert {m["type"]: m["min_ard"] for m in methods} == {
        "api_credits": "100.000",
        "gift_card": "1000.000",
        "bank_withdrawal": "10000.000",
        "upi": "5000.000",
    }
    assert (await balances(sessions))[creator["id"]] == 6_000_000  # nothing held


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("cancel", ["cancel", "approve", "reject"]),
        ("reject", ["reject", "approve", "cancel"]),
        ("approve", ["approve", "reject", "cancel"]),
    ],
)
async def test_decisions_from_every_state(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    first: str,
    then: list[str],
) -> None:
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    paths = {
        "cancel": (f"{REDEMPTIONS}/{rid}/cancel", creator["headers"], None),
        "approve": (f"{REDEMPTIONS}/admin/{rid}/approve", bearer(operator_token), None),
        "reject": (f"{REDEMPTIONS}/admin/{rid}/reject", bearer(operator_token), {"reason": "no"}),
    }

    async def decide(decision: str) -> httpx.Response:
        path, headers, body = paths[decision]
        return await live.post(path, headers=headers, json=body)

    decided = await decide(first)
    assert decided.status_code == 200, decided.text
    closed = await settled(live, creator, rid)
    expected = {"cancel": "cancelled", "reject": "rejected", "approve": "completed"}[first]
    assert closed["status"] == expected
    for later in then:
        assert_problem(await decide(later), 409, "invalid_state")
    refunded = expected != "completed"
    assert (await balances(sessions))[creator["id"]] == (5_000_000 if refunded else 0)
    await assert_invariants(sessions)


async def test_only_the_owner_and_operators_act(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str
) -> None:
    owner, other = await creator_with(live, sessions, 5_000), await creator_with(live, sessions, 0)
    agent = await register(live)
    rid = await pending(live, owner)
    assert_problem(await live.get(f"{REDEMPTIONS}/{rid}", headers=other["headers"]), 404)
    assert_problem(await live.post(f"{REDEMPTIONS}/{rid}/cancel", headers=other["headers"]), 404)
    mine = (await live.get(REDEMPTIONS, headers=other["headers"])).json()
    assert mine["total"] == 0 and mine["redemptions"] == []
    approve = f"{REDEMPTIONS}/admin/{rid}/approve"
    assert_problem(await live.post(approve, headers=owner["headers"]), 403)
    assert_problem(await live.post(approve, headers=agent["headers"]), 403)
    assert_problem(await live.post(approve), 401)
    assert_problem(await live.get("/api/v1/payouts", headers=owner["headers"]), 403)
    assert_problem(await live.get(f"{REDEMPTIONS}/{uuid.uuid4()}", headers=owner["headers"]), 404)
    listed = (await live.get(REDEMPTIONS, headers=owner["headers"])).json()
    assert [r["id"] for r in listed["redemptions"]] == [rid]
    live_view = (await live.get(f"{REDEMPTIONS}/{rid}", headers=owner["headers"])).json()
    assert live_view["steps"][0]["status"] == "pending"


async def test_same_idempotency_key_opens_one_redemption(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    creator = await creator_with(live, sessions, 1_000)
    headers = {**creator["headers"], "Idempotency-Key": "cash-out-1"}
    body = {"redemption_type": "api_credits", "amount_ard": "100"}
    answers = await asyncio.gather(
        *(live.post(REDEMPTIONS, headers=headers, json=body) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    await settled(live, creator, answers[0].json()["id"])
    assert (await balances(sessions))[creator["id"]] == 900_000


async def test_a_suspended_creators_token_is_refused(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    creator = await creator_with(live, sessions, 1_000)
    async with unit_of_work(sessions) as session:
        (await creators.current(session, uuid.UUID(creator["id"]))).status = "suspended"
    assert_problem(await live.get(REDEMPTIONS, headers=creator["headers"]), 401, "invalid_token")
    refused = await redeem(live, creator, "api_credits", "100")
    assert_problem(refused, 401, "invalid_token")


@pytest.mark.parametrize(
    ("kind", "ard", "details", "provider"),
    [
        ("gift_card", "1000", {}, "simulated"),  # sent to the account's email
        ("bank_withdrawal", "10000", BANK, "razorpay"),
    ],
)
async def test_every_paid_type_completes_with_exact_balances(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    razorpay: RazorpayFake,
    kind: str,
    ard: str,
    details: dict[str, str],
    provider: str,
) -> None:
    creator = await creator_with(live, sessions, 12_000)
    before = await balances(sessions)
    opened = await redeem(live, creator, kind, ard, payout_details=details)
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    held = await balances(sessions)
    assert held["payout_clearing"] - before["payout_clearing"] == int(ard) * 1000
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await settled(live, creator, rid)
    assert (done["status"], done["provider"]) == ("completed", provider)
    if kind == "gift_card":
        assert done["payout_details"] == {"email": creator["creator"]["email"]}
    after = await balances(sessions)
    assert after[creator["id"]] == 12_000_000 - int(ard) * 1000
    assert after["paid_out"] - before["paid_out"] == int(ard) * 1000
    assert after["payout_clearing"] == before["payout_clearing"]
    assert len(razorpay.payouts) == (1 if provider == "razorpay" else 0)
    await assert_invariants(sessions)
