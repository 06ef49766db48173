"""Redemptions end to end: the API, a real worker and Temporal, the ledger, a fake Razorpay."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.db import unit_of_work
from core.settings import Settings
from domain import creators, events
from tests.api.helpers import assert_problem, register
from tests.api.test_creators import register_creator
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances, mint
from tests.razorpay_fake import RazorpayFake

Sessions = async_sessionmaker[AsyncSession]
REDEMPTIONS = "/api/v1/redemptions"
UPI = {"upi_id": "asha.rao@okaxis"}
BANK = {
    "account_holder_name": "Asha Rao",
    "account_number": "1121431121541121",
    "ifsc": "HDFC0000053",
}
FINAL = {"completed", "cancelled", "rejected", "failed"}


@pytest.fixture
async def razorpay() -> AsyncIterator[RazorpayFake]:
    async with RazorpayFake() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, razorpay: RazorpayFake) -> Settings:
    settings.razorpay_key_id, settings.razorpay_key_secret = razorpay.key_id, razorpay.key_secret
    settings.razorpay_base_url = razorpay.url
    settings.razorpay_account_number = "7878780080316316"
    settings.redemption_payout_attempts = 3
    return settings


async def _creator(api: httpx.AsyncClient, sessions: Sessions, ard: int) -> dict[str, Any]:
    creator = await register_creator(api)
    creator["id"] = creator["creator"]["id"]
    if ard:
        await mint(sessions, creator["id"], ard * 1000, owner_kind="creator")
    return creator


async def _redeem(
    api: httpx.AsyncClient, creator: dict[str, Any], kind: str, ard: str, **body: Any
) -> httpx.Response:
    payload = {"redemption_type": kind, "amount_ard": ard, **body}
    return await api.post(REDEMPTIONS, headers=creator["headers"], json=payload)


async def _settled(api: httpx.AsyncClient, creator: dict[str, Any], rid: str) -> dict[str, Any]:
    """The redemption once its workflow has closed it."""
    for _ in range(300):
        body: dict[str, Any] = (
            await api.get(f"{REDEMPTIONS}/{rid}", headers=creator["headers"])
        ).json()
        if body["status"] in FINAL:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"redemption {rid} stayed {body['status']}")


async def _pending(api: httpx.AsyncClient, creator: dict[str, Any], ard: str = "5000") -> str:
    opened = await _redeem(api, creator, "upi", ard, currency="INR", payout_details=UPI)
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "pending"
    return str(opened.json()["id"])


async def test_api_credits_complete_at_once(live: httpx.AsyncClient, sessions: Sessions) -> None:
    creator = await _creator(live, sessions, 1_000)
    before = await balances(sessions)
    opened = await _redeem(live, creator, "api_credits", "100")
    assert opened.status_code == 201, opened.text
    assert opened.headers["Location"].endswith(opened.json()["id"])
    done = await _settled(live, creator, opened.json()["id"])
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
    creator = await _creator(live, sessions, 6_000)
    for kind, ard, details in (
        ("api_credits", "99.999", {}),
        ("gift_card", "999", {"email": "a@example.com"}),
        ("upi", "4999", UPI),
        ("bank_withdrawal", "9999.999", BANK),
    ):
        refused = await _redeem(live, creator, kind, ard, payout_details=details)
        assert_problem(refused, 422, "below_minimum")
    no_details = await _redeem(live, creator, "upi", "5000")
    assert_problem(no_details, 422, "invalid_payout_details")
    too_much = await _redeem(live, creator, "upi", "6000.001", payout_details=UPI)
    assert_problem(too_much, 402, "insufficient_credits")
    methods = (await live.get(f"{REDEMPTIONS}/methods")).json()["methods"]
    assert {m["type"]: m["min_ard"] for m in methods} == {
        "api_credits": "100.000",
        "gift_card": "1000.000",
        "bank_withdrawal": "10000.000",
        "upi": "5000.000",
    }
    assert (await balances(sessions))[creator["id"]] == 6_000_000  # nothing held


async def test_approved_upi_redemption_is_paid_once(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str, razorpay: RazorpayFake
) -> None:
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
    held = (await live.get("/api/v1/creators/me/wallet", headers=creator["headers"])).json()
    assert (held["available"], held["held"]) == ("0.000", "5000.000")
    razorpay.fail_next = 2  # the provider fails twice, then pays
    approve = f"{REDEMPTIONS}/admin/{rid}/approve"
    approved = await live.post(approve, headers=bearer(operator_token))
    assert approved.status_code == 200, approved.text
    done = await _settled(live, creator, rid)
    assert done["status"] == "completed" and done["provider_reference"].startswith("pout_")
    assert len(razorpay.payouts) == 1
    [payout] = razorpay.payouts.values()
    assert (payout["amount"], payout["currency"]) == (42_000, "INR")  # 5,000 ARD = 420 INR
    notes = [s["note"] for s in done["steps"]]
    assert sum("attempt" in n for n in notes) == 2, notes
    assert (await balances(sessions))[creator["id"]] == 0
    assert_problem(await live.post(approve, headers=bearer(operator_token)), 409, "invalid_state")
    await assert_invariants(sessions)


async def test_a_provider_that_always_fails_refunds_once(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str, razorpay: RazorpayFake
) -> None:
    creator = await _creator(live, sessions, 10_000)
    opened = await _redeem(live, creator, "bank_withdrawal", "10000", payout_details=BANK)
    rid = opened.json()["id"]
    razorpay.always_fail = True
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    failed = await _settled(live, creator, rid)
    assert failed["status"] == "failed" and razorpay.calls == 3
    assert razorpay.payouts == {}
    assert (await balances(sessions))[creator["id"]] == 10_000_000
    await assert_invariants(sessions)


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
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
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
    closed = await _settled(live, creator, rid)
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
    owner, other = await _creator(live, sessions, 5_000), await _creator(live, sessions, 0)
    agent = await register(live)
    rid = await _pending(live, owner)
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
    creator = await _creator(live, sessions, 1_000)
    headers = {**creator["headers"], "Idempotency-Key": "cash-out-1"}
    body = {"redemption_type": "api_credits", "amount_ard": "100"}
    answers = await asyncio.gather(
        *(live.post(REDEMPTIONS, headers=headers, json=body) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    await _settled(live, creator, answers[0].json()["id"])
    assert (await balances(sessions))[creator["id"]] == 900_000


async def test_a_rejection_stops_the_retries_and_refunds_once(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    razorpay: RazorpayFake,
    settings: Settings,
) -> None:
    settings.redemption_retry_seconds = 60  # the payout waits between attempts: reject then
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
    razorpay.always_fail = True
    operator = bearer(operator_token)
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=operator)
    for _ in range(200):
        view = (await live.get(f"{REDEMPTIONS}/{rid}", headers=creator["headers"])).json()
        if any("attempt 1 failed" in s["note"] for s in view["steps"]):
            break
        await asyncio.sleep(0.05)
    assert view["status"] == "processing", view
    rejected = await live.post(
        f"{REDEMPTIONS}/admin/{rid}/reject", headers=operator, json={"reason": "fraud check"}
    )
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["reason"]) == ("rejected", "fraud check")
    assert razorpay.calls == 1 and razorpay.payouts == {}
    assert (await balances(sessions))[creator["id"]] == 5_000_000
    again = await live.post(
        f"{REDEMPTIONS}/admin/{rid}/reject", headers=operator, json={"reason": "x"}
    )
    assert_problem(again, 409, "invalid_state")
    await assert_invariants(sessions)


async def test_the_pauses_between_attempts_double_up_to_their_cap(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    razorpay: RazorpayFake,
    settings: Settings,
    temporal_dev: WorkflowEnvironment,
) -> None:
    settings.redemption_payout_attempts = 4
    settings.redemption_retry_seconds, settings.redemption_retry_max_seconds = 1, 2
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
    razorpay.always_fail = True
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await _settled(live, creator, rid)
    assert done["status"] == "failed", done
    history = await temporal_dev.client.get_workflow_handle(done["workflow_id"]).fetch_history()
    pauses = [
        event.timer_started_event_attributes.start_to_fire_timeout.seconds
        for event in history.events
        if event.HasField("timer_started_event_attributes")
    ]
    assert pauses == [1, 2, 2]
    assert (await balances(sessions))[creator["id"]] == 5_000_000
    await assert_invariants(sessions)


async def test_unanswered_attempts_that_paid_complete_instead_of_refunding(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str, razorpay: RazorpayFake
) -> None:
    """Every attempt pays (once, by its idempotency key) and loses its answer; when the attempts
    run out the provider is asked before any refund, and the payout it made completes it."""
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
    razorpay.lose_answers, razorpay.fail_lookups = 3, 1  # the first look-up fails too: retried
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await _settled(live, creator, rid)
    [payout] = razorpay.payouts.values()
    assert (done["status"], done["provider_reference"]) == ("completed", payout["id"]), done
    assert razorpay.calls == 3 and razorpay.lookups == 2
    assert (await balances(sessions))[creator["id"]] == 0  # paid once, nothing refunded
    await assert_invariants(sessions)


async def test_a_rejection_after_an_unanswered_attempt_that_paid_is_refused(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    razorpay: RazorpayFake,
    settings: Settings,
) -> None:
    settings.redemption_retry_seconds = 60  # the payout waits between attempts: reject then
    creator = await _creator(live, sessions, 5_000)
    rid = await _pending(live, creator)
    razorpay.lose_answers = 1  # the payout is made, its answer lost
    operator = bearer(operator_token)
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=operator)
    for _ in range(200):
        view = (await live.get(f"{REDEMPTIONS}/{rid}", headers=creator["headers"])).json()
        if any("attempt 1 failed" in s["note"] for s in view["steps"]):
            break
        await asyncio.sleep(0.05)
    rejected = await live.post(
        f"{REDEMPTIONS}/admin/{rid}/reject", headers=operator, json={"reason": "fraud check"}
    )
    assert_problem(rejected, 409, "invalid_state")  # the money had left: too late to reject
    done = await _settled(live, creator, rid)
    [payout] = razorpay.payouts.values()
    assert (done["status"], done["provider_reference"]) == ("completed", payout["id"]), done
    assert razorpay.calls == 1 and razorpay.lookups == 1
    assert (await balances(sessions))[creator["id"]] == 0
    await assert_invariants(sessions)


async def test_a_suspended_creators_token_is_refused(
    live: httpx.AsyncClient, sessions: Sessions
) -> None:
    creator = await _creator(live, sessions, 1_000)
    async with unit_of_work(sessions) as session:
        (await creators.current(session, uuid.UUID(creator["id"]))).status = "suspended"
    assert_problem(await live.get(REDEMPTIONS, headers=creator["headers"]), 401, "invalid_token")
    refused = await _redeem(live, creator, "api_credits", "100")
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
    creator = await _creator(live, sessions, 12_000)
    before = await balances(sessions)
    opened = await _redeem(live, creator, kind, ard, payout_details=details)
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    held = await balances(sessions)
    assert held["payout_clearing"] - before["payout_clearing"] == int(ard) * 1000
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await _settled(live, creator, rid)
    assert (done["status"], done["provider"]) == ("completed", provider)
    if kind == "gift_card":
        assert done["payout_details"] == {"email": creator["creator"]["email"]}
    after = await balances(sessions)
    assert after[creator["id"]] == 12_000_000 - int(ard) * 1000
    assert after["paid_out"] - before["paid_out"] == int(ard) * 1000
    assert after["payout_clearing"] == before["payout_clearing"]
    assert len(razorpay.payouts) == (1 if provider == "razorpay" else 0)
    await assert_invariants(sessions)
