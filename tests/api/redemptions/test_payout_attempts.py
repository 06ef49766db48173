"""A redemption's payout attempts end to end (the API, a real worker and Temporal, a fake
Razorpay X): failed attempts retried after doubling pauses, an answer lost after paying found
before any refund, a rejection taking effect between attempts, and every one refunded once."""

import asyncio
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from tests.api.helpers import assert_problem
from tests.api.redemption_helpers import (
    BANK,
    REDEMPTIONS,
    Sessions,
    creator_with,
    pending,
    redeem,
    settled,
)
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances
from tests.razorpay_fake import RazorpayFake


async def _approved_and_failed_once(
    api: httpx.AsyncClient, operator: dict[str, str], creator: dict[str, Any], rid: str
) -> dict[str, Any]:
    """The redemption approved, once its first payout attempt has failed (a rejection then
    meets the pause before the next)."""
    await api.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=operator)
    for _ in range(200):
        view: dict[str, Any] = (
            await api.get(f"{REDEMPTIONS}/{rid}", headers=creator["headers"])
        ).json()
        if any("attempt 1 failed" in s["note"] for s in view["steps"]):
            break
        await asyncio.sleep(0.05)
    return view


async def test_approved_upi_redemption_is_paid_once(
    live: httpx.AsyncClient, sessions: Sessions, operator_token: str, razorpay: RazorpayFake
) -> None:
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    held = (await live.get("/api/v1/creators/me/wallet", headers=creator["headers"])).json()
    assert (held["available"], held["held"]) == ("0.000", "5000.000")
    razorpay.fail_next = 2  # the provider fails twice, then pays
    approve = f"{REDEMPTIONS}/admin/{rid}/approve"
    approved = await live.post(approve, headers=bearer(operator_token))
    assert approved.status_code == 200, approved.text
    done = await settled(live, creator, rid)
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
    creator = await creator_with(live, sessions, 10_000)
    opened = await redeem(live, creator, "bank_withdrawal", "10000", payout_details=BANK)
    rid = opened.json()["id"]
    razorpay.always_fail = True
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    failed = await settled(live, creator, rid)
    assert failed["status"] == "failed" and razorpay.calls == 3
    assert razorpay.payouts == {}
    assert (await balances(sessions))[creator["id"]] == 10_000_000
    await assert_invariants(sessions)


async def test_a_rejection_stops_the_retries_and_refunds_once(
    live: httpx.AsyncClient,
    sessions: Sessions,
    operator_token: str,
    razorpay: RazorpayFake,
    settings: Settings,
) -> None:
    settings.redemption_retry_seconds = 60  # the payout waits between attempts: reject then
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    razorpay.always_fail = True
    operator = bearer(operator_token)
    view = await _approved_and_failed_once(live, operator, creator, rid)
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
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    razorpay.always_fail = True
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await settled(live, creator, rid)
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
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    razorpay.lose_answers, razorpay.fail_lookups = 3, 1  # the first look-up fails too: retried
    await live.post(f"{REDEMPTIONS}/admin/{rid}/approve", headers=bearer(operator_token))
    done = await settled(live, creator, rid)
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
    creator = await creator_with(live, sessions, 5_000)
    rid = await pending(live, creator)
    razorpay.lose_answers = 1  # the payout is made, its answer lost
    operator = bearer(operator_token)
    await _approved_and_failed_once(live, operator, creator, rid)
    rejected = await live.post(
        f"{REDEMPTIONS}/admin/{rid}/reject", headers=operator, json={"reason": "fraud check"}
    )
    assert_problem(rejected, 409, "invalid_state")  # the money had left: too late to reject
    done = await settled(live, creator, rid)
    [payout] = razorpay.payouts.values()
    assert (done["status"], done["provider_reference"]) == ("completed", payout["id"]), done
    assert razorpay.calls == 1 and razorpay.lookups == 1
    assert (await balances(sessions))[creator["id"]] == 0
    await assert_invariants(sessions)
