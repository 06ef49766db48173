"""The Temporal path end to end: a real workflow and activities on a real server and worker purge
expired Idempotency-Key records, events past EVENT_RETENTION_DAYS, finished webhook deliveries
past WEBHOOK_DELIVERY_RETENTION_DAYS, payment-callback ids a day old and search signals past
SEARCH_SIGNAL_RETENTION_DAYS."""

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.settings import Settings
from domain import events, idempotency
from domain.demand import signals
from domain.wallet import deposits
from models.agents import RegisteredAgent
from models.deposits import DepositCallback
from models.idempotency import IdempotencyKey
from models.listings import SearchSignal
from models.webhooks import WebhookDelivery, WebhookEndpoint
from tests.conftest import StartWorker
from workflows.contracts.housekeeping import HousekeepingReport
from workflows.contracts.webhooks import DeliveryStatus
from workflows.housekeeping import HousekeepingWorkflow

PROBE = events.EventType.LISTING_CREATED


async def _seed(settings: Settings, env: WorkflowEnvironment) -> tuple[str, str]:
    """One key that expired an hour ago and one that lives another day, and one event past
    its retention and one within it, on the server's clock: (scope, marker)."""
    engine = create_engine(settings.database_url)
    scope = f"test-{uuid.uuid4().hex[:8]}"
    skew = await env.get_current_time() - utcnow()  # the time-skipping server runs ahead
    retention = timedelta(days=settings.event_retention_days)
    async with unit_of_work(session_factory(engine)) as session:
        await idempotency.claim(session, scope, "stale", "h", skew - timedelta(hours=1))
        await idempotency.claim(session, scope, "fresh", "h", skew + timedelta(days=1))
        for age, name in ((retention + timedelta(hours=1), "old"), (timedelta(hours=1), "new")):
            event = events.emit(session, PROBE, {"n": f"{scope}-{name}"})
            event.created_at = utcnow() + skew - age
        kept = timedelta(days=settings.search_signal_retention_days)
        for age, name in ((kept + timedelta(hours=1), "old"), (kept - timedelta(hours=1), "new")):
            searched = signals.record(
                session, query=f"{scope} {name}", category=None, requester=scope, matched_count=0
            )
            searched.created_at = utcnow() + skew - age
        await _seed_deliveries_and_callbacks(session, scope, settings, skew)
    await engine.dispose()
    return scope, "fresh"


async def _seed_deliveries_and_callbacks(
    session: AsyncSession, scope: str, settings: Settings, skew: timedelta
) -> None:
    """Per kind, one record past its retention and one within it (`{scope}-old`/`-new`); a
    pending delivery past retention stays too."""
    now = utcnow() + skew
    agent = RegisteredAgent(name=scope, agent_type="seller")
    session.add(agent)
    await session.flush()
    endpoint = WebhookEndpoint(
        owner_id=agent.id, kind="seller", url="https://example.com/", secret="sealed"
    )
    deposit, _ = await deposits.open_deposit(
        session, uuid.uuid4(), agent.id, Decimal("1"), "USD", now + timedelta(days=1)
    )
    session.add(endpoint)
    await session.flush()
    old = now - timedelta(days=settings.webhook_delivery_retention_days, hours=1)
    for status, created, name in (
        (DeliveryStatus.DELIVERED, old, "old"),
        (DeliveryStatus.FAILED, old, "old-failed"),
        (DeliveryStatus.PENDING, old, "pending"),
        (DeliveryStatus.DELIVERED, now - timedelta(hours=1), "new"),
    ):
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=uuid.uuid4(),
                event_type=PROBE,
                body=f"{scope}-{name}",
                status=status,
                created_at=created,
            )
        )
    for age, name in ((timedelta(days=1, hours=1), "old"), (timedelta(hours=1), "new")):
        session.add(
            DepositCallback(
                webhook_id=f"{scope}-{name}", deposit_id=deposit.id, received_at=now - age
            )
        )


async def _deliveries_and_callbacks_left(settings: Settings, scope: str) -> tuple[set[str], ...]:
    engine = create_engine(settings.database_url)
    async with unit_of_work(session_factory(engine)) as session:
        bodies = await session.scalars(
            select(WebhookDelivery.body).where(WebhookDelivery.body.startswith(scope))
        )
        ids = await session.scalars(
            select(DepositCallback.webhook_id).where(DepositCallback.webhook_id.startswith(scope))
        )
        left = (
            {b.removeprefix(f"{scope}-") for b in bodies},
            {i.removeprefix(f"{scope}-") for i in ids},
        )
    await engine.dispose()
    return left


async def _events_left(settings: Settings, scope: str) -> set[str]:
    engine = create_engine(settings.database_url)
    async with unit_of_work(session_factory(engine)) as session:
        found = await events.after(session, events.START, [PROBE], limit=100_000)
    await engine.dispose()
    marked = (str(e.payload.get("n", "")) for e in found)  # other tests list real listings
    return {n for n in marked if n.startswith(scope)}


async def _remaining(settings: Settings, scope: str) -> set[str]:
    engine = create_engine(settings.database_url)
    async with unit_of_work(session_factory(engine)) as session:
        keys = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.scope == scope)
        )
        remaining = set(keys)
    await engine.dispose()
    return remaining


async def _signals_left(settings: Settings, scope: str) -> set[str]:
    engine = create_engine(settings.database_url)
    async with unit_of_work(session_factory(engine)) as session:
        found = await session.scalars(
            select(SearchSignal.query).where(SearchSignal.requester == scope)
        )
        left = set(found)
    await engine.dispose()
    return left


async def _run(client: Client, settings: Settings) -> tuple[HousekeepingReport, WorkflowHistory]:
    handle = await client.start_workflow(
        HousekeepingWorkflow.run,
        id=f"housekeeping-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal_task_queue,
    )
    result = await handle.result()
    return result, await handle.fetch_history()


async def test_purges_expired_keys_through_the_dev_server(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    scope, fresh = await _seed(settings, temporal_dev)
    await start_worker(temporal_dev.client)
    result, history = await _run(temporal_dev.client, settings)
    assert result.idempotency_keys >= 1 and result.events >= 1
    assert await _remaining(settings, scope) == {fresh}
    assert await _events_left(settings, scope) == {f"{scope}-new"}
    assert result.webhook_deliveries >= 2 and result.deposit_callbacks >= 1
    assert await _deliveries_and_callbacks_left(settings, scope) == ({"pending", "new"}, {"new"})
    assert result.search_signals >= 1 and await _signals_left(settings, scope) == {f"{scope} new"}
    # The run's own history replays against the current code.
    await Replayer(
        workflows=[HousekeepingWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_runs_on_the_time_skipping_server(
    settings: Settings, temporal_time_skipping: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    scope, fresh = await _seed(settings, temporal_time_skipping)
    await start_worker(temporal_time_skipping.client)
    result, _ = await _run(temporal_time_skipping.client, settings)
    assert result.idempotency_keys >= 1 and result.events >= 1
    assert await _remaining(settings, scope) == {fresh}
    assert await _events_left(settings, scope) == {f"{scope}-new"}
    assert result.webhook_deliveries >= 2 and result.deposit_callbacks >= 1
    assert await _deliveries_and_callbacks_left(settings, scope) == ({"pending", "new"}, {"new"})
