"""Crash test: redemptions and a monthly payout while the worker process is SIGKILLed.

The API runs in this process (the real app over httpx), and so does a fake Razorpay X; the worker
is its own OS process on a private Temporal namespace and PostgreSQL database (crash_harness),
given the fake's keys and URL by environment variables. 24 creators funded through the ledger
open api_credits, UPI, bank and gift-card redemptions; an operator approves or rejects them, their
owners cancel some; the MonthlyPayoutWorkflow runs twice for one month. Meanwhile the worker is
killed KILLS times, each aimed at a moment when a payout call is at the fake (which answers
slowly, fails a few calls and loses a few answers after paying). Afterwards every redemption is
closed as decided, each paid one was paid exactly once at the fake and no other one at all, every
creator kept its funding minus exactly what it redeemed, and the ledger balances.
Set CRASH_SEED to replay a run's random choices.
"""

import asyncio
import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from core import ids
from core.db import unit_of_work
from domain.redemptions.providers import payout_amount
from models.ledger import LedgerHold
from models.redemptions import PayoutRun, Redemption
from tests.api.test_creators import register_creator
from tests.conftest import bearer
from tests.ledger_helpers import assert_invariants, balances, mint
from tests.razorpay_fake import RazorpayFake
from tests.workflows.crash_harness import (
    CrashRig,
    Sessions,
    crash_rig,
    sigkill_at_random,
    still_running,
    unclosed,
    wait_closed,
)
from worker.cli import create_operator
from workflows.contracts.payout import MONTHLY_PAYOUT, PayoutRunSummary
from workflows.contracts.redemption import REDEMPTION, RedemptionState

Creator = dict[str, Any]

PERIOD = "2000-01"  # not the current month: the worker's own schedule never pays it
RUN_IDS = (ids.payout_run_workflow(PERIOD), f"{ids.payout_run_workflow(PERIOD)}:again")
KILLS = 6
UPTIME_SECONDS = (1.0, 3.0)  # a worker lives this long (uniform), then dies at the next moment
AIM_SECONDS = 8.0  # (up to this long) when a payout call is at the fake (a slow machine needs long)
DOWNTIME_SECONDS = (0.0, 0.5)  # and stays dead this long
OPEN_STAGGER_SECONDS = 3.0  # creators open their redemptions spread over this
DECIDE_AFTER_SECONDS = (1.0, 10.0)  # and each decision comes this long after its opening
RUNS_START_SECONDS = (2.0, 6.0)  # the monthly payout starts this long after the openings
SECOND_RUN_AFTER_SECONDS = (0.0, 3.0)  # and runs again, concurrently, this long after
FAKE_DELAY_SECONDS = 1.0  # every payout call takes this long: kills meet calls in flight
FAILED_CALLS = 3  # the fake answers 500 to the first calls, paying nothing
LOST_ANSWERS = 3  # then pays and answers 500 (the answer is lost) to the next ones
# A kill fails at most one attempt of each redemption (the one in flight; it times out after
# 30 s) and each fake failure one attempt: with more attempts than that, no redemption can run
# out of attempts after a payout the fake made (ADR 0011), so every approved one completes.
# For the same reason rejections come only before approval, never between payout attempts.
PAYOUT_ATTEMPTS = KILLS + FAILED_CALLS + LOST_ANSWERS + 1
# One redemption can meet all of those failures; doubling pauses would then reach minutes (CI once
# waited out CLOSE_TIMEOUT on one), so they stop growing here.
RETRY_MAX_SECONDS = 4
# A step lost with a killed worker is retried after its start-to-close timeout: 30 s for a
# redemption's, 1 min for the monthly payout's.
DRIVE_TIMEOUT = 240.0
CLOSE_TIMEOUT = 240.0
WORKFLOW_TYPES = (REDEMPTION.name, MONTHLY_PAYOUT.name)
RAZORPAY_TYPES = ("upi", "bank_withdrawal")
MIN_PAYOUT_ARD = 10_000
DETAILS = {
    "upi": {"upi_id": "asha.rao@okaxis"},
    "bank_withdrawal": {
        "account_holder_name": "Asha Rao",
        "account_number": "1121431121541121",
        "ifsc": "HDFC0000053",
    },
    "gift_card": {},  # sent to the creator's account email
}


@dataclass(frozen=True)
class Plan:
    """One redemption a creator opens, what happens to it and how it must end."""

    kind: str
    ard: int
    decision: str | None  # approve | reject | cancel; None: api_credits complete at once
    expected: str


@dataclass(frozen=True)
class Profile:
    payout_method: str | None
    funding_ard: int
    plans: tuple[Plan, ...]

    @property
    def eligible(self) -> bool:
        """Paid by the monthly run: a method and, whatever is held, 10,000 ARD or more."""
        lowest = self.funding_ard - sum(plan.ard for plan in self.plans)
        timeless = lowest >= MIN_PAYOUT_ARD or self.funding_ard < MIN_PAYOUT_ARD
        assert self.payout_method is None or timeless, "eligibility would depend on timing"
        return self.payout_method is not None and lowest >= MIN_PAYOUT_ARD


CREDITS = Plan("api_credits", 500, None, "completed")
UPI_PAID = Plan("upi", 5_000, "approve", "completed")
BANK_PAID = Plan("bank_withdrawal", 10_000, "approve", "completed")
PROFILES = (  # each taken three times: 24 creators, 12 of them paid monthly
    Profile("upi", 30_000, (UPI_PAID, CREDITS)),
    Profile("bank_withdrawal", 30_000, (BANK_PAID,)),
    Profile("upi", 25_000, (Plan("upi", 5_000, "reject", "rejected"), CREDITS)),
    Profile("bank_withdrawal", 30_000, (Plan("upi", 6_000, "cancel", "cancelled"), UPI_PAID)),
    Profile(None, 25_000, (BANK_PAID, UPI_PAID, CREDITS)),
    Profile(
        None,
        20_000,
        (
            Plan("bank_withdrawal", 10_000, "reject", "rejected"),
            Plan("gift_card", 1_000, "approve", "completed"),
        ),
    ),
    Profile("upi", 9_000, (UPI_PAID, CREDITS)),  # never rich enough for the monthly payout
    Profile(None, 20_000, (Plan("bank_withdrawal", 10_000, "cancel", "cancelled"), UPI_PAID)),
)


@dataclass
class Run:
    rng: random.Random
    operator: dict[str, str]
    expected: dict[uuid.UUID, str] = field(default_factory=dict)  # redemption id -> final status
    answers: Counter[int] = field(default_factory=Counter)  # decision status codes
    kills_mid_payout: list[int] = field(default_factory=list)  # payout calls in flight at kills


async def _creator(rig: CrashRig, profile: Profile) -> Creator:
    creator = await register_creator(rig.api)
    creator["id"] = creator["creator"]["id"]
    if profile.payout_method:
        body = {
            "payout_method": profile.payout_method,
            "payout_details": DETAILS[profile.payout_method],
        }
        saved = await rig.api.put("/api/v1/creators/me", headers=creator["headers"], json=body)
        assert saved.status_code == 200, saved.text
    await mint(rig.sessions, creator["id"], profile.funding_ard * 1000, owner_kind="creator")
    return creator


async def _open(
    rig: CrashRig, run: Run, creator: Creator, plans: tuple[Plan, ...]
) -> list[tuple[str, Plan]]:
    await asyncio.sleep(run.rng.uniform(0, OPEN_STAGGER_SECONDS))
    opened = []
    for plan in plans:
        body = {
            "redemption_type": plan.kind,
            "amount_ard": str(plan.ard),
            "currency": "INR" if plan.kind in RAZORPAY_TYPES else "USD",
            "payout_details": DETAILS.get(plan.kind, {}),
        }
        response = await rig.api.post("/api/v1/redemptions", headers=creator["headers"], json=body)
        assert response.status_code == 201, response.text  # only the worker dies
        run.expected[uuid.UUID(response.json()["id"])] = plan.expected
        opened.append((response.json()["id"], plan))
    return opened


async def _decide(rig: CrashRig, run: Run, creator: Creator, rid: str, decision: str) -> None:
    """Send the decision until the redemption has it: 200, or 409 once an earlier try that
    answered an error (a worker died under it) took effect after all."""
    await asyncio.sleep(run.rng.uniform(*DECIDE_AFTER_SECONDS))
    path, headers, body = {
        "approve": (f"admin/{rid}/approve", run.operator, None),
        "reject": (f"admin/{rid}/reject", run.operator, {"reason": "not this time"}),
        "cancel": (f"{rid}/cancel", creator["headers"], None),
    }[decision]
    while True:
        response = await rig.api.post(f"/api/v1/redemptions/{path}", headers=headers, json=body)
        run.answers[response.status_code] += 1
        if response.status_code in (200, 409):
            return
        await asyncio.sleep(0.5)


async def _monthly_runs(rig: CrashRig, run: Run) -> None:
    """The month's payout run, and the same month again while the first may still run."""

    async def execute(workflow_id: str, delay: float) -> PayoutRunSummary:
        await asyncio.sleep(delay)
        return await rig.client.execute_workflow(
            MONTHLY_PAYOUT.name,
            PERIOD,
            id=workflow_id,
            task_queue=rig.settings.temporal_task_queue,
            result_type=PayoutRunSummary,
        )

    first = run.rng.uniform(*RUNS_START_SECONDS)
    second = first + run.rng.uniform(*SECOND_RUN_AFTER_SECONDS)
    await asyncio.gather(execute(RUN_IDS[0], first), execute(RUN_IDS[1], second))


async def _chaos(rig: CrashRig, run: Run, fake: RazorpayFake) -> None:
    async def payout_in_flight() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AIM_SECONDS
        while fake.in_flight == 0 and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    run.kills_mid_payout = await sigkill_at_random(
        rig.worker,
        run.rng,
        KILLS,
        UPTIME_SECONDS,
        DOWNTIME_SECONDS,
        lambda: fake.in_flight,
        payout_in_flight,
    )


async def _drive(
    rig: CrashRig, run: Run, fake: RazorpayFake, creators: list[Creator], profiles: list[Profile]
) -> None:
    """Openings, decisions and the monthly runs, while the chaos loop kills the worker."""
    chaos = asyncio.create_task(_chaos(rig, run, fake))
    opened = await asyncio.gather(
        *(_open(rig, run, c, p.plans) for c, p in zip(creators, profiles, strict=True))
    )
    decisions = [
        _decide(rig, run, creator, rid, plan.decision)
        for creator, mine in zip(creators, opened, strict=True)
        for rid, plan in mine
        if plan.decision
    ]
    await asyncio.gather(chaos, _monthly_runs(rig, run), *decisions)


async def _redemptions(sessions: Sessions) -> list[Redemption]:
    async with unit_of_work(sessions) as session:
        return list(await session.scalars(select(Redemption)))


async def _check_outcomes(
    rig: CrashRig, run: Run, rows: list[Redemption], eligible: set[str]
) -> None:
    """Each redemption closed as decided; the month paid each eligible creator once."""
    monthly = [row for row in rows if row.period is not None]
    assert len(rows) == len(run.expected) + len(monthly)
    for row in rows:
        assert row.status == run.expected.get(row.id, "completed"), (row.id, row.status)
        handle = rig.client.get_workflow_handle(row.workflow_id, result_type=RedemptionState)
        assert (await handle.result()).status == row.status, row.id
    assert {row.period for row in monthly} == {PERIOD}
    assert sorted(str(row.creator_id) for row in monthly) == sorted(eligible)
    async with unit_of_work(rig.sessions) as session:
        month = await session.get(PayoutRun, PERIOD)
    assert month is not None and month.runs == 2, month
    assert month.creators_paid == len(eligible)
    assert month.total_units == sum(row.amount_units for row in monthly)


def _check_provider(fake: RazorpayFake, rows: list[Redemption]) -> None:
    """One payout at the fake for each completed UPI or bank redemption, none for the rest."""
    made = Counter(payout["reference_id"] for payout in fake.payouts.values())
    paid = [
        row for row in rows if row.status == "completed" and row.redemption_type in RAZORPAY_TYPES
    ]
    for row in rows:
        assert made[str(row.id)] == (1 if row in paid else 0), (row.id, row.status)
    assert sum(made.values()) == len(paid)
    for row in paid:
        payout = fake.payouts[row.provider_reference or ""]
        assert (row.provider, payout["reference_id"]) == ("razorpay", str(row.id))
        assert payout["amount"] == payout_amount(row.amount_units, "INR")


async def _check_ledger(
    sessions: Sessions, rows: list[Redemption], funding: dict[str, int]
) -> None:
    """Each creator kept its funding minus exactly its completed redemptions."""
    async with unit_of_work(sessions) as session:
        pending = await session.scalar(
            select(func.count()).select_from(LedgerHold).where(LedgerHold.status == "pending")
        )
    assert pending == 0
    after = await balances(sessions)
    assert after["payout_clearing"] == 0
    for creator_id, units in funding.items():
        redeemed = sum(
            row.amount_units
            for row in rows
            if str(row.creator_id) == creator_id and row.status == "completed"
        )
        assert after[creator_id] == units - redeemed, creator_id
    await assert_invariants(sessions)


async def test_redemptions_survive_worker_sigkills(
    private_postgres_url: str, temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(2**32)))
    async with (
        RazorpayFake() as fake,
        crash_rig(
            private_postgres_url,
            temporal_dev,
            tmp_path,
            razorpay_key_id=fake.key_id,
            razorpay_key_secret=fake.key_secret,
            razorpay_base_url=fake.url,
            razorpay_account_number="7878780080316316",
            redemption_payout_attempts=PAYOUT_ATTEMPTS,
            redemption_retry_seconds=1,
            redemption_retry_max_seconds=RETRY_MAX_SECONDS,
        ) as rig,
    ):
        operator = await create_operator(rig.settings, f"operator-{uuid.uuid4().hex[:8]}")
        run = Run(rng=random.Random(seed), operator=bearer(operator))
        profiles = [PROFILES[n % len(PROFILES)] for n in range(3 * len(PROFILES))]
        creators = await asyncio.gather(*(_creator(rig, p) for p in profiles))
        funding = {c["id"]: p.funding_ard * 1000 for c, p in zip(creators, profiles, strict=True)}
        eligible = {c["id"] for c, p in zip(creators, profiles, strict=True) if p.eligible}
        fake.delay_seconds, fake.fail_next, fake.lose_answers = (
            FAKE_DELAY_SECONDS,
            FAILED_CALLS,
            LOST_ANSWERS,
        )
        rig.worker.start()
        began = asyncio.get_running_loop().time()
        async with asyncio.timeout(DRIVE_TIMEOUT):
            await _drive(rig, run, fake, creators, profiles)
        driven = asyncio.get_running_loop().time() - began

        rows = await _redemptions(rig.sessions)
        workflow_ids = [row.workflow_id for row in rows] + list(RUN_IDS)
        closed = await wait_closed(rig.client, workflow_ids, rig.worker, CLOSE_TIMEOUT)
        settled = asyncio.get_running_loop().time() - began
        context = f"seed {seed}; worker log:\n{rig.worker.tail()}"
        context += "\n" + await unclosed(rig.client, workflow_ids, closed)
        assert set(closed.values()) == {WorkflowExecutionStatus.COMPLETED}, context
        assert len(closed) == len(workflow_ids), context
        assert await still_running(rig.client, WORKFLOW_TYPES) == [], context
        rows = await _redemptions(rig.sessions)
        await _check_outcomes(rig, run, rows, eligible)
        _check_provider(fake, rows)
        await _check_ledger(rig.sessions, rows, funding)
        assert len(run.kills_mid_payout) == KILLS
        assert sum(1 for n in run.kills_mid_payout if n > 0) >= KILLS // 2, run.kills_mid_payout
        assert (fake.fail_next, fake.lose_answers) == (0, 0)  # both kinds of failure happened
        assert rig.worker.unexpected_exits == [], context
        print(
            f"\nredemption crash test: seed {seed}; drivers done after {driven:.0f}s, every "
            f"workflow closed after {settled:.0f}s; {KILLS} SIGKILLs with "
            f"{run.kills_mid_payout} payout calls in flight; {fake.calls} calls, "
            f"{len(fake.payouts)} payouts at the fake; decision answers {dict(run.answers)}; "
            f"outcomes {dict(Counter(row.status for row in rows))}"
        )
