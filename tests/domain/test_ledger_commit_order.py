"""The chain appended at commit, on real PostgreSQL (ADR 0028): an open movement holds no global
lock, entries are numbered in commit order, and a system account is never overdrawn by movements
that each passed their check while the other was still open."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, session_factory, unit_of_work
from domain import ledger
from models.ledger import LedgerAccount, LedgerEntry
from tests.ledger_helpers import assert_invariants, balances, mint

Sessions = async_sessionmaker[AsyncSession]
TREASURY = ledger.System.TREASURY.id


@pytest.fixture
async def private(private_postgres_url: str) -> AsyncIterator[Sessions]:
    """A database of this test's own: the treasury starts empty."""
    engine = create_engine(private_postgres_url)
    yield session_factory(engine)
    await engine.dispose()


async def _creator(sessions: Sessions, units: int = 0) -> uuid.UUID:
    owner = uuid.uuid4()
    async with unit_of_work(sessions) as session:
        account_id = (await ledger.open_account(session, "creator", owner)).id
    if units:
        await mint(sessions, owner, units, owner_kind="creator")
    return account_id


def _pay(source: uuid.UUID, *legs: tuple[uuid.UUID, int]) -> ledger.Movement:
    return ledger.Movement(
        "transfer", [ledger.Leg(source, to, amount) for to, amount in legs], sum(a for _, a in legs)
    )


async def _balance(sessions: Sessions, account_id: uuid.UUID) -> int:
    async with unit_of_work(sessions) as session:
        account = await session.get(LedgerAccount, account_id)
        assert account is not None
        return account.balance


async def test_an_open_movement_holds_no_global_lock(private: Sessions) -> None:
    """A movement left open does not stop another one (both pay the treasury) from committing;
    the entries are numbered in the order the two committed."""
    first, second = await _creator(private, 5_000), await _creator(private, 5_000)
    one, other = await _creator(private), await _creator(private)
    async with unit_of_work(private) as opened:
        held = await ledger.record(opened, "open", _pay(first, (one, 700), (TREASURY, 300)))
        async with asyncio.timeout(60):  # a deadlock guard, not a measurement
            passed = await _record(private, "passing", _pay(second, (other, 600), (TREASURY, 400)))
    async with unit_of_work(private) as session:
        numbered = [
            (movement_id, sequence)
            for movement_id, sequence in await session.execute(
                select(LedgerEntry.movement_id, LedgerEntry.sequence).order_by(LedgerEntry.sequence)
            )
        ]
    order = [m for m, _ in numbered if m in (held.movement.id, passed.movement.id)]
    assert order == [passed.movement.id] * 2 + [held.movement.id] * 2
    assert [await _balance(private, a) for a in (first, second, one, other, TREASURY)] == [
        4_000,
        4_000,
        700,
        600,
        700,
    ]
    await assert_invariants(private)


async def _record(sessions: Sessions, key: str, movement: ledger.Movement) -> ledger.Recorded:
    async with unit_of_work(sessions) as session:
        return await ledger.record(session, key, movement)


async def test_a_system_account_overtaken_at_commit_refuses_the_whole_movement(
    private: Sessions,
) -> None:
    """Two payments of the whole treasury, each checked while the other is open: the one that
    commits second fails as a whole, and nothing is created or lost."""
    await _fund_treasury(private, 1_000)
    first, second = await _creator(private), await _creator(private)
    with pytest.raises(IntegrityError):
        async with unit_of_work(private) as opened:
            await ledger.record(opened, "late", _pay(TREASURY, (first, 1_000)))
            await _record(private, "early", _pay(TREASURY, (second, 1_000)))
    assert [await _balance(private, a) for a in (TREASURY, first, second)] == [0, 0, 1_000]
    async with unit_of_work(private) as session:
        assert await ledger.find(session, "late") is None
    await assert_invariants(private)


async def _fund_treasury(sessions: Sessions, units: int) -> None:
    issuance = ledger.System.ISSUANCE.id
    await _record(sessions, f"fund:{uuid.uuid4()}", _pay(issuance, (TREASURY, units)))


async def test_a_system_debit_counts_what_its_own_transaction_credited(
    private: Sessions,
) -> None:
    """Credits to the treasury land at commit; a debit later in the same transaction may spend
    them (a sale's fee, then a quality bonus), and not more."""
    payer, payee = await _creator(private, 2_000), await _creator(private)
    async with unit_of_work(private) as session:
        await ledger.record(session, "fee", _pay(payer, (TREASURY, 500)))
        with pytest.raises(ledger.InsufficientCredits):
            await ledger.record(session, "too-much", _pay(TREASURY, (payee, 501)))
        await ledger.record(session, "bonus", _pay(TREASURY, (payee, 500)))
    assert [await _balance(private, a) for a in (payer, payee, TREASURY)] == [1_500, 500, 0]
    assert (await balances(private))[ledger.System.TREASURY.value] == 0
    await assert_invariants(private)
