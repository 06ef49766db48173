"""Test helpers that read and fund the ledger through its own domain code."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import unit_of_work
from domain import ledger
from models.ledger import LedgerAccount


async def mint(
    sessions: async_sessionmaker[AsyncSession],
    owner_id: uuid.UUID | str,
    units: int,
    owner_kind: str = "agent",
) -> None:
    async with unit_of_work(sessions) as session:
        account = await ledger.open_account(session, owner_kind, uuid.UUID(str(owner_id)))
        issuance = ledger.System.ISSUANCE
        await ledger.record(
            session,
            f"test-mint:{uuid.uuid4()}",
            ledger.Movement("deposit", [ledger.Leg(issuance.id, account.id, units)], units),
        )


async def balances(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Every account's balance, keyed by owner id (system accounts by name)."""
    async with unit_of_work(sessions) as session:
        rows = await session.execute(select(LedgerAccount.owner_id, LedgerAccount.balance))
        return {owner: balance for owner, balance in rows}


async def assert_invariants(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with unit_of_work(sessions) as session:
        supply = await ledger.supply(session)
        verdict = await ledger.verify(session)
        negative = await session.scalar(
            select(LedgerAccount.id).where(
                LedgerAccount.balance < 0, LedgerAccount.allow_negative.is_(False)
            )
        )
    assert supply.sum_of_accounts == 0, supply
    assert supply.balanced, supply
    assert verdict.valid, verdict
    assert negative is None


async def fund_treasury(sessions: async_sessionmaker[AsyncSession], units: int) -> None:
    """Fees the treasury would have collected, so it can pay quality bonuses."""
    async with unit_of_work(sessions) as session:
        issuance, treasury = ledger.System.ISSUANCE, ledger.System.TREASURY
        await ledger.record(
            session,
            f"test-treasury:{uuid.uuid4()}",
            ledger.Movement("deposit", [ledger.Leg(issuance.id, treasury.id, units)], units),
        )
