"""Record one history per workflow scenario into tests/workflows/histories/ (replayed by
test_replay.py, so a non-deterministic change to a workflow fails the suite).

    .venv/bin/python -m tests.workflows.record

Re-record only on purpose: after a deliberate, versioned change to a workflow.
"""

import asyncio
import tempfile
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.process import flush_and_exit
from core.temporal import SEARCH_ATTRIBUTES, binary
from domain import agents
from tests.conftest import make_settings
from worker.cli import migrate
from worker.main import build_workers
from worker.registry import Dependencies
from workflows.messages import CONFIRM_DEPOSIT, DEPOSIT_WORKFLOW, Confirmation, DepositTerms

HISTORIES = Path(__file__).parent / "histories"


async def _save(handle: WorkflowHandle, name: str) -> None:
    await handle.result()
    (HISTORIES / f"{name}.json").write_text((await handle.fetch_history()).to_json())


async def _deposit(client: Client, queue: str, agent_id: uuid.UUID, seconds: int) -> WorkflowHandle:
    terms = DepositTerms(
        deposit_id=uuid.uuid4(),
        agent_id=agent_id,
        amount_fiat=Decimal("5.00"),
        currency="USD",
        expires_at=utcnow() + timedelta(seconds=seconds),
    )
    return await client.start_workflow(
        DEPOSIT_WORKFLOW, terms, id=f"deposit:{terms.deposit_id}", task_queue=queue
    )


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{tmp}/record.db"
    migrate(url)
    settings = make_settings(url, tmp)
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        agent = await agents.register(session, "recorder", "both", agents.AgentProfile(), 100_000)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )
    client, queue = env.client, settings.temporal_task_queue
    [worker] = build_workers(client, Dependencies(settings, sessions))
    async with worker:
        for name in ("HousekeepingWorkflow", "LedgerAuditWorkflow", "CacheDecayWorkflow"):
            handle = await client.start_workflow(name, id=f"{name}-recorded", task_queue=queue)
            await _save(handle, name)
        confirmed = await _deposit(client, queue, agent.id, 3600)
        await confirmed.execute_update(CONFIRM_DEPOSIT, Confirmation(confirmed_by="operator:rec"))
        await _save(confirmed, "DepositWorkflow-confirmed")
        await _save(await _deposit(client, queue, agent.id, 1), "DepositWorkflow-expired")
    await env.shutdown()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
    flush_and_exit(0)
