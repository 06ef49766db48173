"""What a creator owns and earns: owned agents' balances, the creator's wallet, the dashboard.

Every figure is read from the ledger: a redemption is a hold on the creator's account (`held`
while open); once posted (paid) it counts as redeemed.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import paginate
from core.queries import fetch
from domain import ledger
from domain.creators.profiles import CREATOR, current
from domain.ledger.accounts import of as account_of
from models.agents import RegisteredAgent
from models.ledger import LedgerAccount, LedgerHold

AGENT = "agent"  # the ledger's owner kind for agent accounts


@dataclass(frozen=True)
class AgentEarnings:
    agent: RegisteredAgent
    available: int
    held: int
    total_earned: int
    total_spent: int

    @property
    def balance(self) -> int:
        return self.available + self.held


@dataclass(frozen=True)
class CreatorWallet:
    available: int
    held: int
    total_redeemed: int

    @property
    def balance(self) -> int:
        """Held credits included."""
        return self.available + self.held

    @property
    def total_earned(self) -> int:
        """Everything that ever came in: what is here now plus what was redeemed."""
        return self.balance + self.total_redeemed


@dataclass(frozen=True)
class Dashboard:
    wallet: CreatorWallet
    agents: list[AgentEarnings]

    @property
    def agents_count(self) -> int:
        return len(self.agents)

    @property
    def total_agent_earnings(self) -> int:
        return sum(a.total_earned for a in self.agents)


def _owned(creator_id: uuid.UUID) -> Select[Any]:
    return select(RegisteredAgent).where(RegisteredAgent.creator_id == creator_id)


async def _with_earnings(
    session: AsyncSession, owned: list[RegisteredAgent]
) -> list[AgentEarnings]:
    """Each agent with its account's figures, in three queries whatever the number of agents."""
    if not owned:
        return []
    accounts = {
        account.owner_id: account
        for account in await session.scalars(
            select(LedgerAccount).where(
                LedgerAccount.owner_kind == AGENT,
                LedgerAccount.owner_id.in_([str(a.id) for a in owned]),
            )
        )
    }
    account_ids = [a.id for a in accounts.values()]
    pending = await session.execute(
        select(LedgerHold.account_id, func.sum(LedgerHold.amount))
        .where(LedgerHold.account_id.in_(account_ids), LedgerHold.status == "pending")
        .group_by(LedgerHold.account_id)
    )
    held = {account_id: int(total) for account_id, total in pending}
    figures = []
    for agent in owned:
        account = accounts.get(str(agent.id))
        figures.append(
            AgentEarnings(
                agent=agent,
                available=account.balance if account else 0,
                held=held.get(account.id, 0) if account else 0,
                total_earned=account.total_earned if account else 0,
                total_spent=account.total_spent if account else 0,
            )
        )
    return figures


async def agent_earnings(session: AsyncSession, agent: RegisteredAgent) -> AgentEarnings:
    [figures] = await _with_earnings(session, [agent])
    return figures


async def owned_agents(
    session: AsyncSession, creator_id: uuid.UUID, page: int, page_size: int
) -> tuple[int, list[AgentEarnings]]:
    await current(session, creator_id)
    order = (RegisteredAgent.created_at, RegisteredAgent.id)
    total, rows = await paginate(
        session, _owned(creator_id), *order, page=page, page_size=page_size
    )
    return total, await _with_earnings(session, rows)


async def _sum(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(query) or 0)


async def wallet(session: AsyncSession, creator_id: uuid.UUID) -> CreatorWallet:
    await current(session, creator_id)
    account = await account_of(session, CREATOR, creator_id)
    redeemed = await _sum(  # a redemption is a hold on the account, posted when it is paid
        session,
        select(func.sum(LedgerHold.amount)).where(
            LedgerHold.account_id == account.id, LedgerHold.status == "posted"
        ),
    )
    return CreatorWallet(
        available=account.balance,
        held=await ledger.held(session, account.id),
        total_redeemed=redeemed,
    )


async def dashboard(session: AsyncSession, creator_id: uuid.UUID) -> Dashboard:
    creator_wallet = await wallet(session, creator_id)
    order = (RegisteredAgent.created_at, RegisteredAgent.id)
    owned = list(await session.scalars(_owned(creator_id).order_by(*order)))
    return Dashboard(creator_wallet, await _with_earnings(session, owned))


async def owners_of(
    session: AsyncSession, agent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The creators who own these agents (and collect their royalties); an agent without one is
    missing from the answer."""
    rows = await fetch(session, _OWNERS, {"agents": list(agent_ids)})
    return {agent: creator for agent, creator in rows if creator is not None}


_OWNERS = select(RegisteredAgent.id, RegisteredAgent.creator_id).where(
    RegisteredAgent.id.in_(bindparam("agents", expanding=True)),
    RegisteredAgent.creator_id.is_not(None),
)
