"""The agent registry: who may sell and buy, and whether their tokens still work."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import paginate
from core.errors import Conflict, Forbidden, NotFound
from core.ids import parse_id
from core.queries import fetch
from core.security import TokenKind
from domain import audit, events
from domain.wallet import accounts as wallet_accounts
from models.agents import AgentStatus, RegisteredAgent

AGENT = "agent"  # the kind of party an agent is


class AgentNotFound(NotFound):
    code = "agent_not_found"


@dataclass(frozen=True)
class AgentProfile:
    description: str = ""
    public_key: str = ""
    wallet_address: str = ""
    capabilities: Sequence[str] = ()
    a2a_endpoint: str = ""


async def register(
    session: AsyncSession, name: str, agent_type: str, profile: AgentProfile, signup_bonus: int
) -> RegisteredAgent:
    """Register the agent, open its credit account and mint its signup bonus, in one transaction."""
    agent = RegisteredAgent(
        name=name,
        agent_type=agent_type,
        description=profile.description,
        public_key=profile.public_key,
        wallet_address=profile.wallet_address,
        capabilities=list(profile.capabilities),
        a2a_endpoint=profile.a2a_endpoint,
        status=AgentStatus.ACTIVE,
    )
    try:
        async with session.begin_nested():
            session.add(agent)
    except IntegrityError:
        raise Conflict(f"An agent named {name!r} already exists", code="agent_name_taken") from None
    await wallet_accounts.open_agent_wallet(session, agent.id, signup_bonus)
    events.emit(
        session,
        events.EventType.AGENT_REGISTERED,
        {"agent_id": str(agent.id), "name": name},
    )
    return agent


async def get(session: AsyncSession, agent_id: str | uuid.UUID) -> RegisteredAgent:
    """Any agent, active or not; unknown or malformed ids are 404."""
    key = agent_id if isinstance(agent_id, uuid.UUID) else parse_id(agent_id)
    agent = await session.get(RegisteredAgent, key) if key else None
    if agent is None:
        raise AgentNotFound(f"Agent {agent_id} not found")
    return agent


_active = select(RegisteredAgent.id).where(
    RegisteredAgent.id == bindparam("id"), RegisteredAgent.status == AgentStatus.ACTIVE
)


async def is_active(session: AsyncSession, agent_id: uuid.UUID) -> bool:
    """Every authenticated request asks this: one keyed read, built once."""
    return bool(await fetch(session, _active, {"id": agent_id}, keyed=True))


async def list_agents(
    session: AsyncSession,
    *,
    agent_type: str | None,
    status: str | None,
    page: int,
    page_size: int,
) -> tuple[int, list[RegisteredAgent]]:
    query = select(RegisteredAgent)
    if agent_type:
        query = query.where(RegisteredAgent.agent_type == agent_type)
    if status:
        query = query.where(RegisteredAgent.status == status)
    order = (RegisteredAgent.created_at.desc(), RegisteredAgent.id)
    return await paginate(session, query, *order, page=page, page_size=page_size)


def _require_self(agent: RegisteredAgent, caller_id: uuid.UUID) -> None:
    if agent.id != caller_id:
        raise Forbidden("Agents may only change themselves", code="not_owner")


async def update(
    session: AsyncSession, agent_id: str, caller_id: uuid.UUID, changes: dict[str, object]
) -> RegisteredAgent:
    agent = await get(session, agent_id)
    _require_self(agent, caller_id)
    for field, value in changes.items():
        setattr(agent, field, list(value) if field == "capabilities" else value)  # type: ignore[call-overload]
    agent.updated_at = utcnow()
    return agent


async def heartbeat(session: AsyncSession, agent_id: str, caller_id: uuid.UUID) -> datetime:
    agent = await get(session, agent_id)
    _require_self(agent, caller_id)
    agent.last_seen_at = utcnow()
    return agent.last_seen_at


async def deactivate(session: AsyncSession, agent_id: str, caller_id: uuid.UUID) -> RegisteredAgent:
    agent = await get(session, agent_id)
    _require_self(agent, caller_id)
    agent.status = AgentStatus.INACTIVE
    agent.updated_at = utcnow()
    owners = [agent.creator_id] if agent.creator_id else []
    events.emit(
        session,
        events.EventType.AGENT_DEACTIVATED,
        {"agent_id": str(agent.id)},
        audience=[agent.id, *owners],
    )
    me = audit.party(TokenKind.AGENT, agent.id)
    await audit.record(session, audit.AuditEvent.AGENT_DEACTIVATED, actor=me, subject=me)
    return agent
