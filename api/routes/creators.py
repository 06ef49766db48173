"""Creators: accounts, login, owned agents (claimed with proof of control), earnings."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from api.deps import CreatorId, IdempotencyDep, Session, State, issue_token
from api.routes import API_PREFIX
from api.schemas.common import PageNumber, PageSize
from api.schemas.creators import (
    ClaimChallenge,
    ClaimSignature,
    CreatorAuthenticated,
    CreatorDashboard,
    CreatorLogin,
    CreatorRegister,
    CreatorResponse,
    CreatorUpdate,
    CreatorWallet,
    OwnedAgent,
    OwnedAgents,
)
from api.state import AppState
from core.db import unit_of_work
from core.money import units_to_usdc
from core.security import TokenKind
from domain import creators

router = APIRouter(prefix=f"{API_PREFIX}/creators", tags=["creators"])


def _authenticated(state: AppState, creator: object) -> CreatorAuthenticated:
    profile = CreatorResponse.model_validate(creator)
    return CreatorAuthenticated(
        creator=profile, token=issue_token(state, TokenKind.CREATOR, profile.id)
    )


def _owned(figures: creators.AgentEarnings) -> OwnedAgent:
    agent = figures.agent
    return OwnedAgent(
        agent_id=agent.id,
        name=agent.name,
        agent_type=agent.agent_type,
        status=agent.status,
        balance=figures.balance,
        available=figures.available,
        total_earned=figures.total_earned,
        total_spent=figures.total_spent,
    )


@router.post("/register", status_code=201, response_model=CreatorAuthenticated)
async def register(
    body: CreatorRegister, request: Request, state: State, session: Session, idem: IdempotencyDep
) -> Response:
    """Create a creator account (balance 0) and answer its JWT; the account is `/creators/me`."""
    if isinstance(idem, Response):
        return idem
    registration = creators.Registration(**body.model_dump())
    creator = await creators.register(session, registration, state.settings.creator_password_cost)
    location = {"Location": request.url_for("creator").path}
    return await idem.respond(201, _authenticated(state, creator), location)


@router.post("/login", response_model=CreatorAuthenticated)
async def login(body: CreatorLogin, request: Request, state: State) -> CreatorAuthenticated:
    """401 for any wrong email or password; 429 with Retry-After once the failed attempts
    for this email, or from this client, reach their limit within the window.

    The attempt is counted in its own transaction before bcrypt runs (so a failure stays
    counted although the request fails), and forgotten again only after a success; every
    outcome, a throttled attempt included, is written to the audit log.
    """
    limits = creators.LoginLimits.from_settings(state.settings)
    client = request.client.host if request.client else "unknown"
    async with unit_of_work(state.sessions) as session:
        attempt = await creators.begin_login(session, body.email, client, limits)
    cost = state.settings.creator_password_cost
    creator = await creators.check_password(attempt, body.password, cost)
    async with unit_of_work(state.sessions) as session:
        await creators.finish_login(session, attempt, creator)
    return _authenticated(state, creators.admit(creator))


@router.get("/me", response_model=CreatorResponse, name="creator")
async def me(creator: CreatorId, session: Session) -> CreatorResponse:
    return CreatorResponse.model_validate(await creators.current(session, creator))


@router.put("/me", response_model=CreatorResponse)
async def update_me(creator: CreatorId, body: CreatorUpdate, session: Session) -> CreatorResponse:
    changed = await creators.update(session, creator, body.model_dump(exclude_unset=True))
    return CreatorResponse.model_validate(changed)


@router.get("/me/agents", response_model=OwnedAgents)
async def my_agents(
    creator: CreatorId, session: Session, page: PageNumber = 1, page_size: PageSize = 20
) -> OwnedAgents:
    total, owned = await creators.owned_agents(session, creator, page, page_size)
    return OwnedAgents(
        total=total, page=page, page_size=page_size, agents=[_owned(a) for a in owned]
    )


@router.get("/me/agents/{agent_id}/challenge", response_model=ClaimChallenge)
async def claim_challenge(
    agent_id: str, creator: CreatorId, session: Session, state: State
) -> ClaimChallenge:
    """A challenge for the agent to sign with its registered key, to prove control of it."""
    keys = creators.ClaimKeys.from_settings(state.settings)
    challenge = await creators.issue_challenge(session, keys, creator, agent_id)
    return ClaimChallenge(challenge=challenge.text, expires_at=challenge.expires_at)


@router.post("/me/agents/{agent_id}/claim", response_model=OwnedAgent)
async def claim(
    agent_id: str,
    creator: CreatorId,
    session: Session,
    state: State,
    body: ClaimSignature | None = None,
    agent_token: Annotated[str | None, Header(alias="X-Agent-Token", max_length=4096)] = None,
) -> OwnedAgent:
    """Become the agent's owner. Proof of control: the agent's JWT in `X-Agent-Token`, or a
    signature by its registered key over a challenge. No or bad proof → 403; owned by another
    creator → 409; already yours → 200, unchanged."""
    proof: creators.ClaimProof | None = None
    if agent_token:
        proof = creators.AgentTokenProof(agent_token)
    elif body is not None:
        proof = creators.SignatureProof(body.challenge, body.signature)
    keys = creators.ClaimKeys.from_settings(state.settings)
    return _owned(await creators.claim(session, keys, creator, agent_id, proof))


@router.get("/me/dashboard", response_model=CreatorDashboard)
async def dashboard(creator: CreatorId, session: Session, state: State) -> CreatorDashboard:
    board = await creators.dashboard(session, creator)
    return CreatorDashboard(
        creator_balance=board.wallet.balance,
        total_earned=board.wallet.total_earned,
        agents_count=board.agents_count,
        agents=[_owned(a) for a in board.agents],
        total_agent_earnings=board.total_agent_earnings,
        peg_rate_usd=str(state.settings.token_peg_usd),
        token_name=state.settings.token_name,
    )


@router.get("/me/wallet", response_model=CreatorWallet)
async def wallet(creator: CreatorId, session: Session, state: State) -> CreatorWallet:
    figures = await creators.wallet(session, creator)
    return CreatorWallet(
        balance=figures.balance,
        held=figures.held,
        available=figures.available,
        total_earned=figures.total_earned,
        total_redeemed=figures.total_redeemed,
        usd_equivalent=units_to_usdc(figures.balance),
        token_name=state.settings.token_name,
    )
