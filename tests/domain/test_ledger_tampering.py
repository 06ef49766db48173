"""Tampering with stored entries is caught at the exact entry, and the audit workflow records it."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.db import create_engine, session_factory, unit_of_work
from domain import agents, audit, ledger
from domain.events import EventType, Visibility
from models.events import Event
from tests.conftest import StartWorker, make_settings
from tests.ledger_helpers import mint
from workflows.ledger_audit import LedgerAuditWorkflow

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def books(private_postgres_url: str) -> AsyncIterator[Sessions]:
    """A private database with 3 agents: 3 signup bonuses + 3 mints = 6 chained entries."""
    engine = create_engine(private_postgres_url)
    sessions = session_factory(engine)
    for _ in range(3):
        async with unit_of_work(sessions) as session:
            agent = await agents.register(
                session, f"t-{uuid.uuid4().hex[:8]}", "both", agents.AgentProfile(), 100_000
            )
        await mint(sessions, agent.id, 5_000)
    yield sessions
    await engine.dispose()


async def _verify(sessions: Sessions) -> ledger.Verdict:
    async with unit_of_work(sessions) as session:
        return await ledger.verify(session)


async def _tamper(sessions: Sessions, *statements: str) -> None:
    async with unit_of_work(sessions) as session:
        for statement in statements:
            await session.execute(text(statement))


async def test_untouched_books_verify(books: Sessions) -> None:
    verdict = await _verify(books)
    assert verdict.valid and verdict.entries_checked == 6


async def test_changed_amount_is_caught_at_that_entry(books: Sessions) -> None:
    await _tamper(books, "UPDATE ledger_entries SET amount = amount + 1 WHERE sequence = 4")
    verdict = await _verify(books)
    assert not verdict.valid
    assert (verdict.entry_number, verdict.reason, verdict.entries_checked) == (
        4,
        "entry altered",
        3,
    )


async def test_reordered_entries_are_caught_at_the_first_moved(books: Sessions) -> None:
    await _tamper(
        books,
        "UPDATE ledger_entries SET sequence = -3 WHERE sequence = 3",
        "UPDATE ledger_entries SET sequence = 3 WHERE sequence = 4",
        "UPDATE ledger_entries SET sequence = 4 WHERE sequence = -3",
    )
    verdict = await _verify(books)
    assert (verdict.valid, verdict.entry_number) == (False, 3)
    assert verdict.reason == "previous hash does not link"


async def test_deleted_entry_is_caught_where_the_gap_is(books: Sessions) -> None:
    await _tamper(books, "DELETE FROM ledger_entries WHERE sequence = 5")
    verdict = await _verify(books)
    assert (verdict.valid, verdict.entry_number, verdict.reason) == (False, 6, "sequence gap")
    assert verdict.expected == "5"


async def test_deleted_last_entry_is_caught(books: Sessions) -> None:
    await _tamper(books, "DELETE FROM ledger_entries WHERE sequence = 6")
    verdict = await _verify(books)
    assert not verdict.valid and verdict.reason == "entries missing at the end of the chain"


async def test_audit_workflow_records_a_broken_ledger(
    books: Sessions,
    private_postgres_url: str,
    tmp_path: Path,
    temporal_time_skipping: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    client = temporal_time_skipping.client
    settings = make_settings(private_postgres_url, tmp_path)
    await start_worker(client, settings)

    async def run_audit() -> bool:
        report = await client.execute_workflow(
            LedgerAuditWorkflow.run,
            id=f"audit-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        return report.valid

    assert await run_audit() is True
    await _tamper(books, "UPDATE ledger_entries SET amount = 1 WHERE sequence = 2")
    assert await run_audit() is False
    async with unit_of_work(books) as session:
        events = list(
            await session.scalars(select(Event).where(Event.type == "ledger_audit_failed"))
        )
    assert len(events) == 1
    assert events[0].payload["chain"]["entry_number"] == 2
    assert EventType(events[0].type).visibility is Visibility.OPERATORS
    async with unit_of_work(books) as session:
        _, [entry] = await audit.page(session, event_type=audit.AuditEvent.LEDGER_AUDIT_FAILED)
    assert (entry.severity, entry.actor) == ("critical", audit.SYSTEM)
    assert entry.details["chain"]["entry_number"] == 2
