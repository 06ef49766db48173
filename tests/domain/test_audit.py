"""The audit log's hash chain: a changed, reordered or deleted entry is found at that entry; an
entry exists only if its transaction commits; concurrent appends never fork the chain."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from core.db import create_engine, session_factory, unit_of_work
from domain import audit
from domain.audit import AuditEvent
from tests.conftest import StartWorker, make_settings
from workflows.contracts.ledger_audit import AuditReport
from workflows.ledger_audit import LedgerAuditWorkflow

Sessions = async_sessionmaker[AsyncSession]


async def _record(sessions: Sessions, n: int) -> None:
    async with unit_of_work(sessions) as session:
        await audit.record(
            session,
            AuditEvent.AGENT_DEACTIVATED,
            actor=audit.party("agent", uuid.uuid4()),
            details={"n": n, "at": uuid.uuid4(), "nested": {"units": [1, 2]}},
        )


@pytest.fixture
async def chain(private_postgres_url: str) -> AsyncIterator[Sessions]:
    """A private database with 5 audit entries."""
    engine = create_engine(private_postgres_url)
    sessions = session_factory(engine)
    for n in range(5):
        await _record(sessions, n)
    yield sessions
    await engine.dispose()


async def _verify(sessions: Sessions) -> audit.Verdict:
    async with unit_of_work(sessions) as session:
        return await audit.verify(session)


async def _tamper(sessions: Sessions, *statements: str) -> None:
    async with unit_of_work(sessions) as session:
        for statement in statements:
            await session.execute(text(statement))


async def test_untouched_chain_verifies(chain: Sessions) -> None:
    assert (await _verify(chain)).report() == {"valid": True, "entries_checked": 5}


async def test_a_changed_entry_is_caught_at_that_entry(chain: Sessions) -> None:
    await _tamper(chain, "UPDATE audit_log SET actor = 'operator:someone-else' WHERE sequence = 3")
    verdict = await _verify(chain)
    assert (verdict.valid, verdict.entry_number, verdict.reason) == (False, 3, "entry altered")
    assert verdict.entries_checked == 2


async def test_changed_details_are_caught(chain: Sessions) -> None:
    await _tamper(chain, """UPDATE audit_log SET details = '{"n": 99}' WHERE sequence = 2""")
    verdict = await _verify(chain)
    assert (verdict.valid, verdict.entry_number, verdict.reason) == (False, 2, "entry altered")


async def test_a_deleted_entry_is_caught_where_the_gap_is(chain: Sessions) -> None:
    await _tamper(chain, "DELETE FROM audit_log WHERE sequence = 4")
    verdict = await _verify(chain)
    assert (verdict.valid, verdict.entry_number, verdict.reason) == (False, 5, "sequence gap")


async def test_the_last_entry_deleted_is_caught_by_the_head(chain: Sessions) -> None:
    await _tamper(chain, "DELETE FROM audit_log WHERE sequence = 5")
    verdict = await _verify(chain)
    assert not verdict.valid and verdict.reason == "entries missing at the end of the chain"


async def test_a_rewritten_chain_does_not_link(chain: Sessions) -> None:
    """Renumbering entries to hide a deletion breaks the links."""
    await _tamper(
        chain,
        "DELETE FROM audit_log WHERE sequence = 2",
        "UPDATE audit_log SET sequence = sequence - 1 WHERE sequence > 2",
        "UPDATE audit_chain_head SET last_sequence = 4",
    )
    verdict = await _verify(chain)
    assert (verdict.valid, verdict.entry_number) == (False, 2)
    assert verdict.reason == "previous hash does not link"


async def test_an_entry_lives_and_dies_with_its_transaction(chain: Sessions) -> None:
    with pytest.raises(RuntimeError):
        async with unit_of_work(chain) as session:
            await audit.record(session, AuditEvent.AGENT_CLAIMED, actor="creator:x")
            raise RuntimeError("the action failed after its entry was written")
    async with unit_of_work(chain) as session:
        total, _ = await audit.page(session, event_type=AuditEvent.AGENT_CLAIMED)
    assert total == 0
    await _record(chain, 5)  # the chain goes on from where the last commit left it
    assert (await _verify(chain)).report() == {"valid": True, "entries_checked": 6}


async def test_concurrent_appends_never_fork(chain: Sessions) -> None:
    await asyncio.gather(*(_record(chain, n) for n in range(20)))
    assert (await _verify(chain)).report() == {"valid": True, "entries_checked": 25}


async def test_filters_and_parties(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    me, other = audit.party("agent", uuid.uuid4()), audit.party("agent", uuid.uuid4())
    async with unit_of_work(sessions) as session:
        await audit.record(session, AuditEvent.AGENT_DEACTIVATED, actor=me, subject=me)
        await audit.record(session, AuditEvent.AGENT_CLAIMED, actor="creator:c", subject=me)
        await audit.record(session, AuditEvent.AGENT_CLAIMED, actor="creator:c", subject=other)
    async with unit_of_work(sessions) as session:
        total, mine = await audit.page(session, involving=me)
        claims, _ = await audit.page(session, involving=me, event_type="agent_claimed")
        verdict = await audit.verify(session)
    await engine.dispose()
    assert total == 2 and [e.event_type for e in mine] == ["agent_claimed", "agent_deactivated"]
    assert claims == 1
    assert verdict.valid


async def test_the_scheduled_audit_verifies_this_chain_and_records_a_break(
    chain: Sessions,
    private_postgres_url: str,
    tmp_path: Path,
    temporal_time_skipping: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    client = temporal_time_skipping.client
    settings = make_settings(private_postgres_url, tmp_path)
    await start_worker(client, settings)

    async def run_audit() -> AuditReport:
        report: AuditReport = await client.execute_workflow(
            LedgerAuditWorkflow.run,
            id=f"audit-{uuid.uuid4().hex[:8]}",
            task_queue=settings.temporal_task_queue,
        )
        return report

    assert (await run_audit()).audit_chain == {"valid": True, "entries_checked": 5}
    await _tamper(chain, "UPDATE audit_log SET subject = 'agent:nobody' WHERE sequence = 4")
    report = await run_audit()
    assert not report.valid and report.chain["valid"]
    assert (report.audit_chain["entry_number"], report.audit_chain["reason"]) == (
        4,
        "entry altered",
    )
    async with unit_of_work(chain) as session:
        _, [entry] = await audit.page(session, event_type=AuditEvent.LEDGER_AUDIT_FAILED)
    assert entry.sequence == 6 and entry.details["audit_chain"]["entry_number"] == 4
