"""The Temporal path end to end: a real workflow and activity on a real server and worker."""

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
from domain import idempotency
from models.idempotency import IdempotencyKey
from tests.conftest import StartWorker
from workflows.contracts.housekeeping import PurgeResult
from workflows.housekeeping import HousekeepingWorkflow


async def _seed_keys(settings: Settings, env: WorkflowEnvironment) -> tuple[str, str]:
    """One key that expired an hour ago and one that lives another day, on the server's clock."""
    engine = create_engine(settings.database_url)
    scope = f"test-{uuid.uuid4().hex[:8]}"
    skew = await env.get_current_time() - utcnow()  # the time-skipping server runs ahead
    async with unit_of_work(session_factory(engine)) as session:
        await idempotency.claim(session, scope, "stale", "h", skew - timedelta(hours=1))
        await idempotency.claim(session, scope, "fresh", "h", skew + timedelta(days=1))
    await engine.dispose()
    return scope, "fresh"


async def _remaining(settings: Settings, scope: str) -> set[str]:
    engine = create_engine(settings.database_url)
    async with unit_of_work(session_factory(engine)) as session:
        keys = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.scope == scope)
        )
        remaining = set(keys)
    await engine.dispose()
    return remaining


async def _run(client: Client, settings: Settings) -> tuple[PurgeResult, WorkflowHistory]:
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
    scope, fresh = await _seed_keys(settings, temporal_dev)
    await start_worker(temporal_dev.client)
    result, history = await _run(temporal_dev.client, settings)
    assert result.purged >= 1
    assert await _remaining(settings, scope) == {fresh}
    # The run's own history replays against the current code.
    await Replayer(
        workflows=[HousekeepingWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_runs_on_the_time_skipping_server(
    settings: Settings, temporal_time_skipping: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    scope, fresh = await _seed_keys(settings, temporal_time_skipping)
    await start_worker(temporal_time_skipping.client)
    result, _ = await _run(temporal_time_skipping.client, settings)
    assert result.purged >= 1
    assert await _remaining(settings, scope) == {fresh}
