"""Request dependencies: the unit of work, the three kinds of caller, idempotency."""

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.wallet import DepositCallback
from api.state import AppState
from core import signatures
from core.db import read_only, unit_of_work
from core.errors import Forbidden, Unauthorized
from core.security import InvalidToken, TokenKind, create_token, decode_token
from domain import agents, creators, idempotency, operators
from domain.wallet import deposits

F = TypeVar("F", bound=Callable[..., Any])


def refuses(
    *statuses: int, token: Literal["required", "optional"] | None = None
) -> Callable[[F], F]:
    """Tag a dependency with the problem statuses it answers and whether it reads a bearer
    token; the OpenAPI document (api/openapi.py) is built from these tags."""

    def tag(dependency: F) -> F:
        dependency.refusals = statuses  # type: ignore[attr-defined]
        dependency.token = token  # type: ignore[attr-defined]
        return dependency

    return tag


async def get_state(request: Request) -> AppState:
    """Async although it awaits nothing: FastAPI runs a plain function dependency on a worker
    thread, a hand-off every request would pay."""
    state: AppState = request.app.state.services
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    """One unit of work per request, committed before the response leaves (on SQLite, queued
    behind this process's other writers rather than in SQLite's busy handler)."""
    async with unit_of_work(state.sessions) as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(state: State) -> AsyncIterator[AsyncSession]:
    """For routes that only read: one consistent snapshot, and no writer waits on it."""
    async with read_only(state.sessions, snapshot=True) as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_single_read_session(state: State) -> AsyncIterator[AsyncSession]:
    """For routes that read in one statement: no snapshot to set up, and no writer waits on it."""
    async with read_only(state.sessions) as session:
        yield session


SingleReadSession = Annotated[AsyncSession, Depends(get_single_read_session, scope="function")]

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
    async with read_only(state.sessions) as session:
        if principal.kind is TokenKind.AGENT:
            active = await agents.is_active(session, principal.id)
        elif principal.kind is TokenKind.OPERATOR:
            active = await operators.is_active(session, principal.id)
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


async def _of_kind(
    state: AppState, credentials: HTTPAuthorizationCredentials | None, kind: TokenKind
) -> uuid.UUID:
    principal = await _authenticate(state, credentials)
    if principal.kind is not kind:
        raise Forbidden(f"This route is for {kind.value} tokens", code="wrong_token_kind")
    return principal.id


def _require(kind: TokenKind) -> Any:
    @refuses(401, 403, token="required")
    async def dependency(state: State, credentials: Credentials) -> uuid.UUID:
        return await _of_kind(state, credentials, kind)

    return Depends(dependency)


async def authenticate_agent(state: AppState, authorization: str | None) -> uuid.UUID:
    """The REST rules for an agent route, applied to an `Authorization` header read outside
    FastAPI's dependencies (the MCP endpoint, per request): 401 without an active agent's
    valid token, 403 `wrong_token_kind` for another kind's valid token."""
    scheme, token = get_authorization_scheme_param(authorization)
    credentials = None
    if authorization and scheme.lower() == "bearer" and token:
        credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    return await _of_kind(state, credentials, TokenKind.AGENT)


AgentId = Annotated[uuid.UUID, _require(TokenKind.AGENT)]
CreatorId = Annotated[uuid.UUID, _require(TokenKind.CREATOR)]
OperatorId = Annotated[uuid.UUID, _require(TokenKind.OPERATOR)]


@refuses(401, 403, token="required")
async def _agent_or_operator(state: State, credentials: Credentials) -> Principal:
    principal = await _authenticate(state, credentials)
    if principal.kind not in (TokenKind.AGENT, TokenKind.OPERATOR):
        raise Forbidden("This route is for agent or operator tokens", code="wrong_token_kind")
    return principal


AgentOrOperator = Annotated[Principal, Depends(_agent_or_operator)]


@refuses(401, token="optional")
async def _optional_agent(state: State, credentials: Credentials) -> uuid.UUID | None:
    if credentials is None:
        return None
    principal = await _authenticate(state, credentials)
    return principal.id if principal.kind is TokenKind.AGENT else None


OptionalAgentId = Annotated[uuid.UUID | None, Depends(_optional_agent)]


class Idempotent:
    """`Idempotency-Key` handling for one request: replay a stored response, or record this one
    (sealed with the key itself when the caller is anonymous)."""

    def __init__(
        self,
        session: AsyncSession,
        claimed: idempotency.Claimed | None = None,
        secret: idempotency.Secret | None = None,
    ):
        self._session, self._claimed, self._secret = session, claimed, secret

    async def respond(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        """The response, recorded (headers included) to be replayed for this key."""
        if isinstance(body, BaseModel):  # what jsonable_encoder gives, without walking it again
            payload = body.model_dump(mode="json", by_alias=True)
        else:
            payload = jsonable_encoder(body)
        if self._claimed is not None:
            stored = self._secret.seal(payload) if self._secret else payload
            await idempotency.complete(self._session, self._claimed, status, stored, headers)
        return JSONResponse(payload, status, headers)


# Visible ASCII only, short enough for every ledger key derived from it.
IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,128}$"


@refuses(409, 422, token="optional")
async def _idempotent(
    request: Request,
    state: State,
    session: Session,
    credentials: Credentials,
    key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=128, pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> Idempotent | JSONResponse:
    if key is None:
        return Idempotent(session)
    secret = None
    try:
        scope = str(_claims(state, credentials).id)
    except Unauthorized:
        secret, scope = idempotency.Secret(key), "anonymous"
        key = secret.stored_key
    fingerprint = idempotency.fingerprint(request.method, request.url.path, await request.body())
    ttl = timedelta(hours=state.settings.idempotency_key_ttl_hours)
    outcome = await idempotency.claim(session, scope, key, fingerprint, ttl)
    if isinstance(outcome, idempotency.Replay):
        body = secret.open(outcome.body) if secret else outcome.body
        replayed = {**outcome.headers, "Idempotent-Replayed": "true"}
        return JSONResponse(body, outcome.status, headers=replayed)
    return Idempotent(session, outcome, secret)


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


@dataclass(frozen=True)
class Confirmer:
    """Who confirms a deposit: an operator, or the provider's signed callback (what it says)."""

    by: str
    callback: deposits.Callback | None = None


@refuses(401, 403, 422, token="required")
async def _deposit_confirmer(request: Request, state: State, credentials: Credentials) -> Confirmer:
    """An operator's token, or the payment provider's signed callback; never an agent."""
    if credentials is not None:
        principal = await _authenticate(state, credentials)
        if principal.kind is not TokenKind.OPERATOR:
            raise Forbidden("Only an operator or the payment provider confirms deposits")
        return Confirmer(f"operator:{principal.id}")
    headers, body = request.headers, await request.body()
    webhook_id = headers.get("webhook-id", "")
    if not signatures.verify(
        state.settings.payment_webhook_secret,
        webhook_id,
        headers.get("webhook-timestamp", ""),
        body,
        headers.get("webhook-signature", ""),
    ):
        raise Unauthorized("An operator token or a valid provider signature is required")
    try:
        said = DepositCallback.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    callback = deposits.Callback(
        webhook_id[:255],
        said.deposit_id,
        said.status == "paid",
        said.amount_fiat,
        said.currency,
        said.payment_reference,
    )
    return Confirmer("payment_provider", callback)


DepositConfirmer = Annotated[Confirmer, Depends(_deposit_confirmer)]
