"""What the crash tests share: the real API app in this process, `python -m worker` as its own OS
process that can be SIGKILLed and restarted, a private Temporal namespace (the worker creates
its schedules there, not in the shared one) and the test's private PostgreSQL database.

`crash_rig` sets it all up; the worker reads the same settings as the API, passed by
environment variables, so both sides agree on the task queue, timeouts and providers.
"""

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from google.protobuf.duration_pb2 import Duration
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.db import create_engine, session_factory
from core.settings import Settings
from core.temporal import SEARCH_ATTRIBUTES, connect
from tests.conftest import TEST_SECRET, make_settings, temporal_address

Sessions = async_sessionmaker[AsyncSession]

# Settings the worker process is given as they are in the test's own Settings.
SHARED_SETTINGS = (
    "database_url",
    "content_store_path",
    "cdn_warm_path",
    "temporal_address",
    "temporal_namespace",
    "temporal_task_queue",
    "purchase_delivery_timeout",
    "redemption_payout_attempts",
    "redemption_retry_seconds",
    "redemption_retry_max_seconds",
    "razorpay_key_id",
    "razorpay_key_secret",
    "razorpay_base_url",
    "razorpay_account_number",
    "webhook_allowlist",
    "webhook_retry_base_seconds",
    "webhook_max_attempts",
)


class WorkerProcess:
    """`python -m worker` as a child process that can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.unexpected_exits: list[int] = []

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker"], env=self.env, stdout=out, stderr=out
            )

    def check(self) -> None:
        """Restart a worker that died on its own (and remember it: that is a finding)."""
        if self.process is not None and self.process.poll() is not None:
            self.unexpected_exits.append(self.process.returncode)
            self.start()

    def kill(self) -> None:
        self.check()
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(30)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def sigkill_at_random(
    worker: WorkerProcess,
    rng: random.Random,
    kills: int,
    uptime: tuple[float, float],
    downtime: tuple[float, float],
    in_flight: Callable[[], int],
    aim: Callable[[], Awaitable[None]] | None = None,
) -> list[int]:
    """SIGKILL the worker `kills` times, each after it lived `uptime` seconds (uniform) and,
    if given, once `aim` returns; restart it after `downtime`. Returns what `in_flight` said at
    each kill."""
    seen = []
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(*uptime))
        if aim is not None:
            await aim()
        worker.kill()
        seen.append(in_flight())
        await asyncio.sleep(rng.uniform(*downtime))
        worker.start()
    return seen


async def private_namespace(dev: Client) -> str:
    name = f"crash-{uuid.uuid4().hex[:8]}"
    await dev.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    kinds = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES
    }
    await dev.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=name, search_attributes=kinds)
    )
    return name


def worker_env(settings: Settings) -> dict[str, str]:
    shared = {name.upper(): str(getattr(settings, name)) for name in SHARED_SETTINGS}
    return {
        **os.environ,
        **shared,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_SIZE": "10",
        "JWT_SECRET_KEY": TEST_SECRET,
        "WORKER_SHUTDOWN_TIMEOUT_SECONDS": "5",
        "WORKER_METRICS_PORT": "0",  # no metrics endpoint (a fixed port would clash)
    }


async def wait_closed(
    client: Client, workflow_ids: list[str], worker: WorkerProcess, within: float
) -> dict[str, WorkflowExecutionStatus]:
    """Each workflow's closing status, polled until all closed or `within` seconds passed
    (restarting a worker that died on its own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    closed: dict[str, WorkflowExecutionStatus] = {}
    while len(closed) < len(set(workflow_ids)) and loop.time() < deadline:
        worker.check()
        for workflow_id in set(workflow_ids) - closed.keys():
            status = (await client.get_workflow_handle(workflow_id).describe()).status
            if status not in (None, WorkflowExecutionStatus.RUNNING):
                closed[workflow_id] = status
        await asyncio.sleep(1)
    return closed


async def unclosed(
    client: Client, workflow_ids: list[str], closed: dict[str, WorkflowExecutionStatus]
) -> str:
    """What each workflow that did not close is waiting on: its pending activities (with their
    attempt and last failure) and its last events, for the failure message."""
    lines = []
    for workflow_id in sorted(set(workflow_ids) - closed.keys()):
        handle = client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        lines.append(f"{workflow_id} ({description.status}):")
        for pending in description.raw_description.pending_activities:
            failure = pending.last_failure.message if pending.HasField("last_failure") else ""
            lines.append(
                f"  pending {pending.activity_type.name} attempt {pending.attempt} "
                f"state {pending.state} {failure}"
            )
        events = [event async for event in handle.fetch_history_events()]
        for event in events[-8:]:
            kind = event.WhichOneof("attributes") or ""
            lines.append(f"  {event.event_time.ToDatetime():%H:%M:%S.%f} {kind}")
    return "\n".join(lines)


async def still_running(client: Client, workflow_types: tuple[str, ...]) -> list[str]:
    """Workflows of these types that visibility still lists as running."""
    kinds = ", ".join(f"'{name}'" for name in workflow_types)
    query = f"ExecutionStatus = 'Running' AND WorkflowType IN ({kinds})"
    running: list[str] = []
    for _ in range(20):  # visibility can trail the executions by a moment
        running = [w.id async for w in client.list_workflows(query)]
        if not running:
            break
        await asyncio.sleep(0.5)
    return running


async def delete_schedules(client: Client) -> None:
    """The worker created its schedules in the private namespace; leave nothing firing."""
    with contextlib.suppress(RPCError):
        async for schedule in await client.list_schedules():
            await client.get_schedule_handle(schedule.id).delete()


@dataclass
class CrashRig:
    settings: Settings
    client: Client  # on the private namespace
    sessions: Sessions  # the private database
    worker: WorkerProcess  # not started yet
    api: httpx.AsyncClient  # the app, lifespan running


@contextlib.asynccontextmanager
async def crash_rig(
    postgres_url: str, temporal_dev: WorkflowEnvironment, tmp_path: Path, **overrides: object
) -> AsyncIterator[CrashRig]:
    """The app over httpx and a (stopped) worker process on a private namespace and database;
    `overrides` are Settings fields, seen by both."""
    namespace = await private_namespace(temporal_dev.client)
    settings = make_settings(
        postgres_url,
        tmp_path,
        **{
            "temporal_address": temporal_address(temporal_dev.client),
            "temporal_namespace": namespace,
            "cdn_warm_path": str(tmp_path / "warm"),
            **overrides,
        },
    )
    client = await connect(settings.temporal_address, namespace)
    engine = create_engine(settings.database_url)
    worker = WorkerProcess(worker_env(settings), tmp_path / "worker.log")
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://crash", timeout=None
            ) as api,
        ):
            yield CrashRig(settings, client, session_factory(engine), worker, api)
    finally:
        worker.stop()
        await delete_schedules(client)
        await engine.dispose()
