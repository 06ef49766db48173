"""Record one history per workflow scenario into tests/workflows/histories/ (replayed by
test_replay.py, so a non-deterministic change to a workflow fails the suite).

    .venv/bin/python -m tests.workflows.record

Re-record only on purpose: after a deliberate, versioned change to a workflow. Histories this
script does not write are kept as they are: `RedemptionWorkflow-lost-answers-v1` was recorded
before the redemption asked its provider about unanswered attempts (`FIND_BEFORE_REFUND`), and
shows the `workflow.patched` gate keeps such histories replaying.
"""

import asyncio
import contextlib
import tempfile
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core import signatures
from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.ids import webhook_dispatch_workflow, webhook_workflow
from core.process import flush_and_exit
from core.temporal import SEARCH_ATTRIBUTES, binary
from core.vault import vault_of
from domain import agents, creators, ledger, listings, purchases, redemptions, webhooks
from domain.content.store import open_store
from domain.demand import signals
from domain.purchases import x402
from domain.wallet import deposits
from domain.webhooks import guard
from tests.conftest import make_settings
from tests.razorpay_fake import RazorpayFake
from tests.webhook_consumer import Consumer
from tests.x402_facilitator import Facilitator
from worker.cli import migrate
from worker.main import build_workers
from worker.registry import Dependencies
from workflows.contracts import demand, deposit, payout, purchase, redemption, task_queue
from workflows.contracts.demand import DemandTerms
from workflows.contracts.deposit import Confirmation, DepositState, DepositTerms
from workflows.contracts.purchase import Delivery, Payment, PurchaseState, PurchaseTerms
from workflows.contracts.redemption import (
    Approval,
    RedemptionState,
    RedemptionTerms,
    Rejection,
)
from workflows.contracts.webhooks import WEBHOOK_DISPATCH, EndpointKind

HISTORIES = Path(__file__).parent / "histories"
PAY_TO = "0x" + "ab" * 20


async def _save(handle: WorkflowHandle, name: str) -> None:
    await handle.result()
    (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())


async def _deposit(
    client: Client, queue: str, sessions: Any, agent_id: uuid.UUID, seconds: int
) -> WorkflowHandle:
    expires_at = utcnow() + timedelta(seconds=seconds)
    async with unit_of_work(sessions) as session:
        row, _ = await deposits.open_deposit(
            session, uuid.uuid4(), agent_id, Decimal("5.00"), "USD", expires_at
        )
        pending = DepositState.model_validate(row)
    return await client.start_workflow(
        deposit.DEPOSIT.name,
        DepositTerms(deposit=pending),
        id=f"deposit:{pending.deposit_id}",
        task_queue=queue,
    )


async def _purchase(
    client: Client,
    queue: str,
    sessions: Any,
    buyer: uuid.UUID,
    listing: uuid.UUID,
    *,
    express: bool,
    window: int = 3600,
) -> WorkflowHandle[Any, PurchaseState]:
    async with unit_of_work(sessions) as session:
        tx, _ = await purchases.open_purchase(session, uuid.uuid4(), buyer, str(listing), express)
    terms = PurchaseTerms(purchase=PurchaseState.model_validate(tx), window_seconds=window)
    return await client.start_workflow(
        purchase.PURCHASE.name,
        terms,
        id=tx.workflow_id,
        task_queue=task_queue(queue, purchase.PURCHASES),
        result_type=PurchaseState,
    )


async def _creator(sessions: Any, units: int) -> uuid.UUID:
    """A creator paid by UPI, with `units` credits."""
    async with unit_of_work(sessions) as session:
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        creator = await creators.register(
            session, creators.Registration(email, "recorded password", "Recorder"), 4
        )
        upi = {"payout_method": "upi", "payout_details": {"upi_id": "rec@okaxis"}}
        await creators.update(session, creator.id, upi)
        account = await ledger.open_account(session, "creator", creator.id)
        issued = ledger.Leg(ledger.System.ISSUANCE.id, account.id, units)
        await ledger.record(
            session, f"record:{creator.id}", ledger.Movement("deposit", [issued], units)
        )
        return creator.id


async def _redemption(
    client: Client,
    queue: str,
    sessions: Any,
    settings: Any,
    kind: str,
    ard: int,
    *,
    attempts: int | None = None,
) -> WorkflowHandle[Any, RedemptionState]:
    creator = await _creator(sessions, ard * 1000)
    details = {} if kind == "api_credits" else {"upi_id": "rec@okaxis"}
    async with unit_of_work(sessions) as session:
        order = redemptions.Order(kind, ard * 1000, "INR", details)
        row, _ = await redemptions.open_redemption(session, uuid.uuid4(), creator, order, settings)
    state = RedemptionState.model_validate(row)
    terms = (
        RedemptionTerms(redemption=state)
        if attempts is None
        else RedemptionTerms(redemption=state, approved=True, payout_attempts=attempts)
    )
    return await client.start_workflow(
        redemption.REDEMPTION.name,
        terms,
        id=row.workflow_id,
        task_queue=queue,
        result_type=RedemptionState,
    )


async def _record_redemptions(
    client: Client, queue: str, sessions: Any, settings: Any, razorpay: RazorpayFake
) -> None:
    instant = await _redemption(client, queue, sessions, settings, "api_credits", 100)
    await _save(instant, "RedemptionWorkflow-api-credits")
    approved = await _redemption(client, queue, sessions, settings, "upi", 5_000)
    operator = uuid.UUID(int=1)
    await approved.execute_update(redemption.APPROVE.name, Approval(operator_id=operator))
    await _save(approved, "RedemptionWorkflow-approved")
    rejected = await _redemption(client, queue, sessions, settings, "upi", 5_000)
    rejection = Rejection(reason="recorded", operator_id=operator)
    await rejected.execute_update(redemption.REJECT.name, rejection)
    await _save(rejected, "RedemptionWorkflow-rejected")
    # Both attempts pay (one payout, by the idempotency key) and lose their answer: found.
    razorpay.lose_answers = 2
    lost = await _redemption(client, queue, sessions, settings, "upi", 5_000, attempts=2)
    await _save(lost, "RedemptionWorkflow-lost-answer-found")
    await _creator(sessions, 10_000_000)
    run = await client.start_workflow(
        payout.MONTHLY_PAYOUT.name, "2030-01", id="payout-run:2030-01", task_queue=queue
    )
    await _save(run, "MonthlyPayoutWorkflow")


async def _record_x402(
    client: Client, queue: str, sessions: Any, facilitator: Facilitator, buyer: uuid.UUID, item: Any
) -> None:
    """An x402-paid purchase: the payment is verified and settled by the local facilitator."""
    bought = await _purchase(client, queue, sessions, buyer, item.id, express=False)
    asked = {
        "scheme": "exact",
        "network": "base-sepolia",
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "amount": str(item.price_units),
        "payTo": PAY_TO,
        "maxTimeoutSeconds": 300,
        "extra": {"name": "USDC", "version": "2"},
    }
    header = facilitator.chain.pay(facilitator.chain.wallet(funds=1_000_000), asked)
    await bought.execute_update(
        purchase.CONFIRM_PAYMENT.name, Payment(header=header, fingerprint=x402.fingerprint(header))
    )
    await bought.execute_update(purchase.DELIVER.name, Delivery(delivered_hash=item.content_hash))
    await bought.execute_update(purchase.VERIFY.name)
    await _save(bought, "PurchaseWorkflow-x402")


async def _record_webhooks(client: Client, queue: str, sessions: Any, settings: Any) -> None:
    """The dispatcher's first run (it continues as new after `seconds`) and the delivery
    workflow it wakes, delivering one event to a local consumer."""
    async with Consumer() as consumer:
        async with unit_of_work(sessions) as session:
            owner = await agents.register(session, "hooked", "both", agents.AgentProfile(), 0)
            subscription = webhooks.Subscription(
                EndpointKind.SELLER, consumer.url, ["agent_registered"], signatures.new_secret()
            )
            allowlist = guard.Allowlist.parse(settings.webhook_allowlist)
            endpoint = await webhooks.register(
                session, vault_of(settings), allowlist, owner.id, subscription
            )
            consumer.secret = subscription.secret
        async with unit_of_work(sessions) as session:
            await agents.register(session, "announced", "both", agents.AgentProfile(), 0)
        dispatcher = await client.start_workflow(
            WEBHOOK_DISPATCH.name, 2, id=webhook_dispatch_workflow(queue), task_queue=queue
        )
        await consumer.until(1)
        delivered = client.get_workflow_handle(webhook_workflow(endpoint.id))
        await _save(delivered, "WebhookEndpointWorkflow")
        first = client.get_workflow_handle(dispatcher.id, run_id=dispatcher.result_run_id)
        while (await first.describe()).status == WorkflowExecutionStatus.RUNNING:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        history = await first.fetch_history()
        (HISTORIES / "WebhookDispatchWorkflow.json").write_text(history.to_json())
        await client.get_workflow_handle(dispatcher.id).terminate("recorded")


async def _record_demand(client: Client, queue: str, sessions: Any) -> None:
    """An aggregation run over a few signals: a gap and its opportunity."""
    async with unit_of_work(sessions) as session:
        for n in range(3):
            signals.record(
                session,
                query="recorded gap",
                category=None,
                requester=f"agent:{n}",
                matched_count=0,
            )
    handle = await client.start_workflow(
        demand.DEMAND_AGGREGATION.name,
        DemandTerms(settle_seconds=0),
        id="DemandAggregationWorkflow-recorded",
        task_queue=queue,
    )
    await _save(handle, "DemandAggregationWorkflow")


async def main() -> None:
    async with Facilitator() as facilitator, RazorpayFake() as razorpay:
        await _record(facilitator, razorpay)


async def _record(facilitator: Facilitator, razorpay: RazorpayFake) -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{tmp}/record.db"
    migrate(url)
    settings = make_settings(
        url,
        tmp,
        payment_mode="testnet",
        x402_pay_to=PAY_TO,
        x402_facilitator_url=facilitator.url,
        webhook_allowlist="127.0.0.1/32",
        razorpay_key_id=razorpay.key_id,
        razorpay_key_secret=razorpay.key_secret,
        razorpay_base_url=razorpay.url,
        razorpay_account_number="7878780080316316",
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    store = open_store(settings.content_store_path)
    async with unit_of_work(sessions) as session:
        agent = await agents.register(session, "recorder", "both", agents.AgentProfile(), 100_000)
        seller = await agents.register(session, "seller", "both", agents.AgentProfile(), 0)
        [item] = await listings.publish(
            session,
            store,
            seller.id,
            [
                listings.Draft(
                    title="recorded",
                    category="web_search",
                    content=b"recorded result",
                    content_type="text/plain",
                    price_units=5_000,
                )
            ],
        )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )
    client, queue = env.client, settings.temporal_task_queue
    workers = build_workers(client, Dependencies(settings, sessions, store.get))
    async with contextlib.AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        for name in ("HousekeepingWorkflow", "LedgerAuditWorkflow", "CacheDecayWorkflow"):
            handle = await client.start_workflow(name, id=f"{name}-recorded", task_queue=queue)
            await _save(handle, name)
        await _record_demand(client, queue, sessions)
        confirmed = await _deposit(client, queue, sessions, agent.id, 3600)
        confirmation = Confirmation(confirmed_by="operator:rec")
        await confirmed.execute_update(deposit.CONFIRM.name, confirmation)
        await _save(confirmed, "DepositWorkflow-confirmed")
        expired = await _deposit(client, queue, sessions, agent.id, 1)
        await _save(expired, "DepositWorkflow-expired")
        bought = await _purchase(client, queue, sessions, agent.id, item.id, express=False)
        await bought.execute_update(purchase.CONFIRM_PAYMENT.name)
        delivered = Delivery(delivered_hash=await store.put(b"recorded result"))
        await bought.execute_update(purchase.DELIVER.name, delivered)
        await bought.execute_update(purchase.VERIFY.name)
        await _save(bought, "PurchaseWorkflow-completed")
        tx_id = (await bought.result()).transaction_id
        await _save(client.get_workflow_handle(f"verify:{tx_id}"), "DeliveryVerificationWorkflow")
        express = await _purchase(client, queue, sessions, agent.id, item.id, express=True)
        await _save(express, "PurchaseWorkflow-express")
        await _save(
            await _purchase(client, queue, sessions, agent.id, item.id, express=False, window=1),
            "PurchaseWorkflow-expired",
        )
        await _record_x402(client, queue, sessions, facilitator, agent.id, item)
        await _record_redemptions(client, queue, sessions, settings, razorpay)
        await _record_webhooks(client, queue, sessions, settings)
    await env.shutdown()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    flush_and_exit(0)
