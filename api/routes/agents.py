"""The agent registry."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import AgentId, IdempotencyDep, Session, State, issue_token
from api.rate_limits import count_registration
from api.routes import API_PREFIX
from api.schemas.agents import (
    AgentCard,
    AgentList,
    AgentRegister,
    AgentRegistered,
    AgentResponse,
    AgentType,
    AgentUpdate,
    Heartbeat,
)
from api.schemas.common import PageNumber, PageSize
from core.money import ard_to_units
from core.security import TokenKind
from domain import agents
from domain.wallet import accounts as wallet

router = APIRouter(prefix=f"{API_PREFIX}/agents", tags=["agents"])


@router.post("/register", status_code=201, response_model=AgentRegistered)
async def register(
    body: AgentRegister, request: Request, state: State, session: Session, idem: IdempotencyDep
) -> Response:
    """Register an agent; answers its JWT once. Opens its credit account with the signup bonus
    while today's bonus budget lasts (`signup_bonus_ard` says what it got; registration goes on
    past the budget). 429 past REGISTRATIONS_PER_CLIENT_PER_HOUR from one client address."""
    if isinstance(idem, Response):
        return idem
    settings = state.settings
    await count_registration(request, state.limiter, settings.registrations_per_client_per_hour)
    profile = agents.AgentProfile(**body.model_dump(exclude={"name", "agent_type"}))
    bonus = await wallet.signup_bonus(
        session,
        ard_to_units(settings.token_signup_bonus),
        ard_to_units(settings.signup_bonus_daily_budget_ard),
    )
    agent = await agents.register(session, body.name, body.agent_type, profile, bonus)
    card_url = str(request.url_for("agent_card", agent_id=str(agent.id)))
    token = issue_token(state, TokenKind.AGENT, agent.id)
    response = AgentRegistered(
        id=agent.id,
        name=agent.name,
        jwt_token=token,
        agent_card_url=card_url,
        created_at=agent.created_at,
        signup_bonus_ard=bonus,
    )
    location = request.url_for("agent", agent_id=str(agent.id)).path
    return await idem.respond(201, response, {"Location": location})


@router.get("", response_model=AgentList)
async def list_agents(
    session: Session,
    agent_type: AgentType | None = None,
    status: Annotated[agents.AgentStatus | None, Query()] = None,
    page: PageNumber = 1,
    page_size: PageSize = 20,
) -> AgentList:
    total, rows = await agents.list_agents(
        session, agent_type=agent_type, status=status, page=page, page_size=page_size
    )
    return AgentList(
        total=total,
        page=page,
        page_size=page_size,
        agents=[AgentResponse.model_validate(a) for a in rows],
    )


@router.get("/{agent_id}", response_model=AgentResponse, name="agent")
async def get_agent(agent_id: str, session: Session) -> AgentResponse:
    return AgentResponse.model_validate(await agents.get(session, agent_id))


@router.put("/{agent_id}", response_model=AgentResponse)
async def update_agent(
    agent_id: str, body: AgentUpdate, caller: AgentId, session: Session
) -> AgentResponse:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return AgentResponse.model_validate(await agents.update(session, agent_id, caller, changes))


@router.post("/{agent_id}/heartbeat", response_model=Heartbeat)
async def heartbeat(agent_id: str, caller: AgentId, session: Session) -> Heartbeat:
    return Heartbeat(last_seen_at=await agents.heartbeat(session, agent_id, caller))


@router.delete("/{agent_id}", response_model=AgentResponse)
async def deactivate(agent_id: str, caller: AgentId, session: Session) -> AgentResponse:
    """Soft delete: the agent's token stops working at once."""
    return AgentResponse.model_validate(await agents.deactivate(session, agent_id, caller))


@router.get("/{agent_id}/card", response_model=AgentCard, name="agent_card")
async def card(agent_id: str, session: Session) -> AgentCard:
    agent = await agents.get(session, agent_id)
    return AgentCard(
        name=agent.name,
        description=agent.description,
        url=agent.a2a_endpoint,
        capabilities={"streaming": False, "pushNotifications": False},
        skills=[{"id": c, "name": c, "tags": [c]} for c in agent.capabilities],
    )
