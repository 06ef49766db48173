"""The decay schedule's workflow reaches the hot tier of every API process through the outbox."""

import asyncio
import uuid

from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.state import AppState
from core.settings import Settings
from tests.conftest import StartWorker
from workflows.cache_decay import CacheDecayWorkflow


async def test_decay_workflow_halves_counters_in_each_api_process(
    settings: Settings, temporal_time_skipping: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    apps = [create_app(settings), create_app(settings)]  # two API processes, one database
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        states: list[AppState] = [app.state.services for app in apps]
        key = await states[0].delivery.put(b"popular result " + uuid.uuid4().bytes)
        for state in states:
            for _ in range(12):  # > 10 accesses: promoted to hot
                await state.delivery.get(key)
            assert state.delivery.accesses(key) == 12
            assert state.delivery.stats()["hot"]["entries"] >= 1

        await start_worker(temporal_time_skipping.client)
        await temporal_time_skipping.client.execute_workflow(
            CacheDecayWorkflow.run,
            id=f"cdn-decay-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        for _ in range(50):
            if all(s.delivery.accesses(key) == 6 for s in states):
                break
            await asyncio.sleep(0.1)
        assert [s.delivery.accesses(key) for s in states] == [6, 6]
