"""Claiming an agent: a creator becomes its owner only with proof of control of the agent.

Two proofs are accepted: the agent's own valid JWT (the subject is the agent), or a signature
by the agent's registered public key over a challenge the server issued for this creator and
this agent. Challenges are stateless: the server's MAC binds them to both ids and an expiry, so
one cannot be reused by another creator or for another agent.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, Forbidden, InvalidState
from core.security import InvalidToken, TokenKind, decode_token
from core.settings import Settings
from domain import agents, audit, events
from domain.creators import signatures
from domain.creators.earnings import AgentEarnings, agent_earnings
from domain.creators.profiles import current
from models.agents import AgentStatus, RegisteredAgent

CHALLENGE_PREFIX = "agentchains-claim:v1"


class ClaimUnproven(Forbidden):
    code = "claim_unproven"


class AgentAlreadyClaimed(Conflict):
    code = "agent_already_claimed"


@dataclass(frozen=True)
class ClaimKeys:
    """What verifies a proof: the JWT secret (agent tokens, and the challenges' MAC)."""

    jwt_secret: str
    jwt_algorithm: str
    challenge_ttl_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "ClaimKeys":
        return cls(
            settings.jwt_secret_key,
            settings.jwt_algorithm,
            settings.creator_claim_challenge_ttl_seconds,
        )

    def mac(self, text: str) -> str:
        key = hmac.new(self.jwt_secret.encode(), b"creator claim challenge", hashlib.sha256)
        return hmac.new(key.digest(), text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AgentTokenProof:
    token: str


@dataclass(frozen=True)
class SignatureProof:
    """`signature` (base64) by the agent's key over the UTF-8 bytes of `challenge`."""

    challenge: str
    signature: str


ClaimProof = AgentTokenProof | SignatureProof


@dataclass(frozen=True)
class Challenge:
    text: str
    expires_at: datetime


async def issue_challenge(
    session: AsyncSession, keys: ClaimKeys, creator_id: uuid.UUID, agent_id: str
) -> Challenge:
    """A challenge for the agent to sign, valid for this creator and agent until it expires."""
    await current(session, creator_id)
    agent = await agents.get(session, agent_id)
    expires_at = (utcnow() + timedelta(seconds=keys.challenge_ttl_seconds)).replace(microsecond=0)
    body = ":".join(
        [
            CHALLENGE_PREFIX,
            str(agent.id),
            str(creator_id),
            str(int(expires_at.timestamp())),
            secrets.token_hex(16),
        ]
    )
    return Challenge(f"{body}:{keys.mac(body)}", expires_at)


def _challenge_is_genuine(
    keys: ClaimKeys, challenge: str, creator_id: uuid.UUID, agent_id: uuid.UUID
) -> bool:
    body, _, mac = challenge.rpartition(":")
    if not hmac.compare_digest(keys.mac(body), mac):
        return False
    parts = body.split(":")
    if len(parts) != 6 or ":".join(parts[:2]) != CHALLENGE_PREFIX or not parts[4].isdigit():
        return False
    expires_at = datetime.fromtimestamp(int(parts[4]), UTC)
    return parts[2] == str(agent_id) and parts[3] == str(creator_id) and utcnow() < expires_at


def _token_names_agent(keys: ClaimKeys, token: str, agent: RegisteredAgent) -> bool:
    token = token.removeprefix("Bearer ").strip()
    try:
        kind, claims = decode_token(token, secret=keys.jwt_secret, algorithm=keys.jwt_algorithm)
    except InvalidToken:
        return False
    return (
        kind is TokenKind.AGENT
        and claims["sub"] == str(agent.id)
        and agent.status == AgentStatus.ACTIVE
    )


def proves_control(
    keys: ClaimKeys, creator_id: uuid.UUID, agent: RegisteredAgent, proof: ClaimProof | None
) -> bool:
    if isinstance(proof, AgentTokenProof):
        return _token_names_agent(keys, proof.token, agent)
    if isinstance(proof, SignatureProof):
        return _challenge_is_genuine(
            keys, proof.challenge, creator_id, agent.id
        ) and signatures.verify(agent.public_key, proof.challenge.encode(), proof.signature)
    return False


async def claim(
    session: AsyncSession,
    keys: ClaimKeys,
    creator_id: uuid.UUID,
    agent_id: str,
    proof: ClaimProof | None,
) -> AgentEarnings:
    """Make the creator the agent's owner. Claiming one's own agent again changes nothing;
    an agent another creator owns is refused, whatever the proof."""
    await current(session, creator_id)
    agent = await agents.get(session, agent_id)
    if not proves_control(keys, creator_id, agent, proof):
        raise ClaimUnproven(
            "Prove control of the agent: its JWT in X-Agent-Token, or its signature over a "
            "challenge from GET /creators/me/agents/{agent_id}/challenge"
        )
    if agent.status != AgentStatus.ACTIVE:
        raise InvalidState("A deactivated agent cannot be claimed")
    if agent.creator_id == creator_id:
        return await agent_earnings(session, agent)
    result = await session.execute(
        update(RegisteredAgent)
        .where(
            RegisteredAgent.id == agent.id,
            or_(RegisteredAgent.creator_id.is_(None), RegisteredAgent.creator_id == creator_id),
        )
        .values(creator_id=creator_id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AgentAlreadyClaimed("Another creator already owns this agent")
    events.emit(
        session,
        events.EventType.AGENT_CLAIMED,
        {"agent_id": str(agent.id), "creator_id": str(creator_id)},
        audience=[agent.id, creator_id],
    )
    await audit.record(
        session,
        audit.AuditEvent.AGENT_CLAIMED,
        actor=audit.party(TokenKind.CREATOR, creator_id),
        subject=audit.party(TokenKind.AGENT, agent.id),
        details={"proof": "agent_token" if isinstance(proof, AgentTokenProof) else "signature"},
    )
    return await agent_earnings(session, agent)
