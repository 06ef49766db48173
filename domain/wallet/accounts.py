"""Agent wallets: opening with the signup bonus, balances, history."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import upsert
from core.queries import fetch
from domain import events, ledger
from domain.ledger.accounts import AccountNotFound
from domain.ledger.accounts import of as account_of
from models.agents import SignupBonusDay
from models.ledger import LedgerAccount, LedgerEntry, LedgerMovement

AGENT = "agent"


async def signup_bonus(session: AsyncSession, bonus_units: int, daily_budget_units: int) -> int:
    """The bonus a new agent gets: all of it while today's (UTC) budget still covers it, else 0.

    One conditional upsert in the caller's transaction: on PostgreSQL concurrent registrations
    queue on the day's row and each re-checks the budget against the committed total, so the
    budget is never exceeded; the claim rolls back with a registration that fails.
    """
    if not 0 < bonus_units <= daily_budget_units:
        return 0
    day = SignupBonusDay.__table__
    claim = (
        upsert(session, day)
        .values(day=utcnow().date(), granted_units=bonus_units)
        .on_conflict_do_update(
            index_elements=[day.c.day],
            set_={"granted_units": day.c.granted_units + bonus_units},
            where=day.c.granted_units + bonus_units <= daily_budget_units,
        )
        .returning(day.c.granted_units)
    )
    granted = (await session.execute(claim)).scalar_one_or_none()
    return bonus_units if granted is not None else 0


async def open_agent_wallet(session: AsyncSession, agent_id: uuid.UUID, bonus_units: int) -> None:
    """Open the agent's account and mint its signup bonus, in the caller's transaction."""
    account = await ledger.open_account(session, AGENT, agent_id)
    if bonus_units <= 0:
        return
    issuance = ledger.System.ISSUANCE
    recorded = await ledger.record(
        session,
        f"signup:{agent_id}",
        ledger.Movement(
            "signup_bonus",
            [ledger.Leg(issuance.id, account.id, bonus_units)],
            bonus_units,
            reference_type="agent",
            reference_id=str(agent_id),
            memo="Signup bonus",
        ),
    )
    if not recorded.replayed:
        events.emit(
            session,
            events.EventType.TOKEN_DEPOSIT,
            {"agent_id": str(agent_id), "amount_units": bonus_units, "reason": "signup_bonus"},
            audience=[agent_id],
        )


@dataclass(frozen=True)
class Balance:
    account: LedgerAccount
    held: int

    @property
    def balance(self) -> int:
        return self.account.balance + self.held

    @property
    def available(self) -> int:
        return self.account.balance


async def balance(session: AsyncSession, agent_id: uuid.UUID) -> Balance:
    account = await account_of(session, AGENT, agent_id)
    return Balance(account, await ledger.held(session, account.id))


_AVAILABLE = select(LedgerAccount.balance).where(
    LedgerAccount.owner_kind == AGENT, LedgerAccount.owner_id == bindparam("owner")
)


async def available(session: AsyncSession, agent_id: uuid.UUID) -> int:
    """What the agent can spend now (held credits are in escrow already): one keyed read."""
    found = await fetch(session, _AVAILABLE, {"owner": str(agent_id)})
    if not found:
        raise AccountNotFound(f"No agent account for {agent_id}")
    return int(found[0][0])


@dataclass(frozen=True)
class HistoryLine:
    id: uuid.UUID
    direction: str
    tx_type: str
    amount: int
    fee_amount: int
    burn_amount: int
    reference_id: str | None
    reference_type: str | None
    memo: str
    created_at: datetime


async def history(
    session: AsyncSession, agent_id: uuid.UUID, page: int, page_size: int
) -> tuple[int, list[HistoryLine]]:
    """One line per movement that touched the account, newest first."""
    account = await account_of(session, AGENT, agent_id)
    touches = or_(
        LedgerEntry.from_account_id == account.id, LedgerEntry.to_account_id == account.id
    )
    out = func.sum(case((LedgerEntry.from_account_id == account.id, LedgerEntry.amount), else_=0))
    into = func.sum(case((LedgerEntry.to_account_id == account.id, LedgerEntry.amount), else_=0))
    per_movement = (
        select(
            LedgerEntry.movement_id,
            out.label("out"),
            into.label("into"),
            func.max(LedgerEntry.sequence).label("last"),
        )
        .where(touches)
        .group_by(LedgerEntry.movement_id)
        .subquery()
    )
    total = await session.scalar(select(func.count()).select_from(per_movement))
    rows = await session.execute(
        select(LedgerMovement, per_movement.c.out, per_movement.c.into)
        .join(per_movement, per_movement.c.movement_id == LedgerMovement.id)
        .order_by(per_movement.c.last.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    lines = [
        HistoryLine(
            id=movement.id,
            direction="outgoing" if out_units > into_units else "incoming",
            tx_type=movement.tx_type,
            amount=int(abs(out_units - into_units)),
            fee_amount=movement.fee_amount,
            burn_amount=movement.burn_amount,
            reference_id=movement.reference_id,
            reference_type=movement.reference_type,
            memo=movement.memo,
            created_at=movement.created_at,
        )
        for movement, out_units, into_units in rows
    ]
    return int(total or 0), lines
