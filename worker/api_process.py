"""The API process as deployed: the API, and a worker for the purchases task queue beside it.

    uvicorn worker.api_process:create_app --factory

An express purchase is started with eager dispatch: its first workflow task comes back in the
start call's answer to this process's worker, which runs the express step (a local activity)
right here, reading the content through this process's tiers, so the purchase completes in one
workflow task without a round trip through the server's task matching. The worker process polls
the same queue: if this process dies mid-purchase, the task times out there and runs again
(every step is idempotent). Without a reachable Temporal at start-up the API still serves; the
worker joins when Temporal answers.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from temporalio.worker import Worker

from api.app import create_app as create_api
from api.state import AppState
from core.settings import Settings
from core.temporal import connect
from worker.registry import PURCHASE_QUEUE, Dependencies
from workflows.contracts import task_queue
from workflows.contracts.purchase import PURCHASES

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_api(settings, alongside=[purchase_worker])


@contextlib.asynccontextmanager
async def purchase_worker(state: AppState) -> AsyncIterator[None]:
    running = asyncio.create_task(_serve(state))
    try:
        yield
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def _serve(state: AppState) -> None:
    settings = state.settings
    deps = Dependencies(settings, state.sessions, state.delivery.read, state.express_answers)
    while True:
        try:
            client = await connect(settings.temporal_address, settings.temporal_namespace)
            break
        except RuntimeError:
            log.warning("temporal not reachable yet: the purchase worker waits")
            await asyncio.sleep(RETRY_SECONDS)
    worker = Worker(
        client,
        task_queue=task_queue(settings.temporal_task_queue, PURCHASES),
        workflows=list(PURCHASE_QUEUE.workflows),
        activities=list(PURCHASE_QUEUE.activities(deps)),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_timeout_seconds),
    )
    async with worker:
        # Eager dispatch needs the starting client to be the worker's: the API switches to it.
        state.temporal = client
        await asyncio.Event().wait()
