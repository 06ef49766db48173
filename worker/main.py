"""The worker process: one Temporal worker per task queue, schedules, graceful shutdown."""

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from core.db import create_engine, session_factory
from core.settings import Settings
from core.temporal import connect, metrics_runtime
from domain.content.store import open_store
from worker import schedules, tally
from worker.registry import Dependencies, task_queues

log = logging.getLogger(__name__)


def build_workers(client: Client, deps: Dependencies) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=name,
            workflows=list(queue.workflows),
            activities=list(queue.activities(deps)),
            graceful_shutdown_timeout=timedelta(
                seconds=deps.settings.worker_shutdown_timeout_seconds
            ),
        )
        for name, queue in task_queues(deps.settings).items()
    ]


async def _connect_with_retry(settings: Settings, attempts: int = 60) -> Client:
    # The SDK's metrics (task latencies, pollers, activity failures) on WORKER_METRICS_PORT.
    runtime = metrics_runtime(settings.worker_metrics_port)
    for attempt in range(1, attempts + 1):
        try:
            return await connect(
                settings.temporal_address, settings.temporal_namespace, runtime=runtime
            )
        except RuntimeError:
            if attempt == attempts:
                raise
            log.warning("temporal not reachable yet", extra={"attempt": attempt})
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def run(settings: Settings) -> None:
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    content = open_store(
        settings.content_store_path,
        settings.azure_storage_connection_string,
        settings.azure_storage_container,
    )
    deps = Dependencies(settings, session_factory(engine), read_content=content.get)
    client = await _connect_with_retry(settings)
    await schedules.ensure(client, settings)
    await schedules.ensure_dispatcher(client, settings)
    workers = build_workers(client, deps)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    log.info("worker started", extra={"task_queues": [w.task_queue for w in workers]})
    runs = [asyncio.create_task(w.run()) for w in workers]
    tallying = asyncio.create_task(tally.follow(deps.sessions, settings.purchase_delivery_timeout))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *runs], return_when=asyncio.FIRST_COMPLETED)
    log.info("worker shutting down")
    tallying.cancel()
    await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
    for task in runs:
        if task.done() and task.exception():
            raise task.exception()  # type: ignore[misc]
    await engine.dispose()
