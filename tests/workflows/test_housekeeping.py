"""The Temporal path end to end: a real workflow and activities on a real server and worker purge
expired Idempotency-Key records, events past EVENT_RETENTION_DAYS and search signals past
SEARCH_SIGNAL_RETENTION_DAYS."""

import uuid
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.settings import Settings
from domain import events, idempotency
from domain.demand import signals
from models.idempotency import IdempotencyKey
from models.listings import SearchSignal
from tests.conftest import StartWorker
from workflows.contracts.housekeeping import HousekeepingReport
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
    await engine.dispose()
    return scope, "fresh"


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
