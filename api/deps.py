"""Request dependencies: the unit of work, the three kinds of caller, idempotency."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.state import AppState
from core import signatures
from core.db import unit_of_work
from core.errors import Forbidden, Unauthorized
from core.security import InvalidToken, TokenKind, create_token, decode_token
from domain import agents, creators, idempotency, operators


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.services
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """One unit of work per request, committed before the response leaves."""
    async with state.sessions() as session, session.begin():
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="A JWT from registration or login")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@dataclass(frozen=True)
class Principal:
    kind: TokenKind
    id: uuid.UUID
    expires_at: datetime | None = None


def _claims(state: AppState, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Unauthorized("A bearer token is required")
    try:
        kind, claims = decode_token(
            credentials.credentials,
            secret=state.settings.jwt_secret_key,
            algorithm=state.settings.jwt_algorithm,
        )
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return Principal(kind, uuid.UUID(claims["sub"]), expires_at)
    except (InvalidToken, ValueError):
        raise Unauthorized("The bearer token is invalid or expired", code="invalid_token") from None


async def _authenticate(
    state: AppState, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """A valid token whose agent, operator or creator is still active.

    The check runs in its own short transaction, so a request that later waits on a workflow
    holds no database transaction while it waits.
    """
    principal = _claims(state, credentials)
    async with unit_of_work(state.sessions) as session:
        if principal.kind is TokenKind.AGENT:
            active = await agents.get_active(session, principal.id) is not None
        elif principal.kind is TokenKind.OPERATOR:
            active = await operators.get_active(session, principal.id) is not None
        else:
            active = await creators.is_active(session, principal.id)
    if not active:
        raise Unauthorized(f"This {principal.kind} is deactivated or unknown", code="invalid_token")
    return principal


async def authenticate(state: AppState, token: str) -> Principal:
    """The REST rules for a token that does not come in the `Authorization` header (the live
    feed's `?token=`): 401 `Unauthorized` for anything but an active caller's valid token."""
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return await _authenticate(state, credentials)


def _require(kind: TokenKind) -> Any:
    async def dependency(state: State, credentials: Credentials) -> uuid.UUID:
        principal = await _authenticate(state, credentials)
        if principal.kind is not kind:
            raise Forbidden(f"This route is for {kind.value} tokens", code="wrong_token_kind")
        return principal.id

    return Depends(dependency)


AgentId = Annotated[uuid.UUID, _require(TokenKind.AGENT)]
CreatorId = Annotated[uuid.UUID, _require(TokenKind.CREATOR)]
OperatorId = Annotated[uuid.UUID, _require(TokenKind.OPERATOR)]


async def _agent_or_operator(state: State, credentials: Credentials) -> Principal:
    principal = await _authenticate(state, credentials)
    if principal.kind not in (TokenKind.AGENT, TokenKind.OPERATOR):
        raise Forbidden("This route is for agent or operator tokens", code="wrong_token_kind")
    return principal


AgentOrOperator = Annotated[Principal, Depends(_agent_or_operator)]


async def _optional_agent(state: State, credentials: Credentials) -> uuid.UUID | None:
    if credentials is None:
        return None
    principal = await _authenticate(state, credentials)
    return principal.id if principal.kind is TokenKind.AGENT else None


OptionalAgentId = Annotated[uuid.UUID | None, Depends(_optional_agent)]


class Idempotent:
    """`Idempotency-Key` handling for one request: replay a stored response, or record this one."""

    def __init__(self, record: idempotency.IdempotencyKey | None = None):
        self._record = record

    def respond(self, status: int, body: Any) -> JSONResponse:
        payload = jsonable_encoder(body)
        if self._record is not None:
            idempotency.complete(self._record, status, payload)
        return JSONResponse(payload, status)


async def _idempotent(
    request: Request,
    state: State,
    session: Session,
    credentials: Credentials,
    key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Idempotent | JSONResponse:
    if key is None:
        return Idempotent()
    try:
        scope = str(_claims(state, credentials).id)
    except Unauthorized:
        scope = f"anonymous:{request.client.host if request.client else '-'}"
    fingerprint = idempotency.fingerprint(request.method, request.url.path, await request.body())
    ttl = timedelta(hours=state.settings.idempotency_key_ttl_hours)
    outcome = await idempotency.claim(session, scope, key, fingerprint, ttl)
    if isinstance(outcome, idempotency.Replay):
        return JSONResponse(outcome.body, outcome.status, headers={"Idempotent-Replayed": "true"})
    return Idempotent(outcome)


IdempotencyDep = Annotated[Idempotent | JSONResponse, Depends(_idempotent)]


def issue_token(state: AppState, kind: TokenKind, subject: uuid.UUID) -> str:
    settings = state.settings
    return create_token(
        kind,
        subject,
        secret=settings.jwt_secret_key,
        algorithm=settings.jwt_algorithm,
        expire_hours=settings.jwt_expire_hours,
    )


async def _deposit_confirmer(request: Request, state: State, credentials: Credentials) -> str:
    """An operator's token, or the payment provider's signed callback; never an agent."""
    if credentials is not None:
        principal = await _authenticate(state, credentials)
        if principal.kind is not TokenKind.OPERATOR:
            raise Forbidden("Only an operator or the payment provider confirms deposits")
        return f"operator:{principal.id}"
    headers = request.headers
    if signatures.verify(
        state.settings.payment_webhook_secret,
        headers.get("webhook-id", ""),
        headers.get("webhook-timestamp", ""),
        await request.body(),
        headers.get("webhook-signature", ""),
    ):
        return "payment_provider"
    raise Unauthorized("An operator token or a valid provider signature is required")


DepositConfirmer = Annotated[str, Depends(_deposit_confirmer)]
