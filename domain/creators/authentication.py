"""Creator login: email and password, throttled per email and per client address.

A login runs in three steps so that no database transaction is open while bcrypt works and a
failed attempt stays counted although the request fails:
`begin_login` (counts the attempt, loads the creator; its own unit of work) →
`check_password` (no database) → `finish_login` (its own unit of work: the attempt is forgotten
after a success). Each outcome is written to the audit log: a throttled attempt in the first
transaction, a success or a failure in the last; `admit` then refuses a failure.
"""

import asyncio
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Unauthorized
from core.security import TokenKind, hash_password, verify_password
from core.settings import Settings
from domain import audit
from domain.audit import AuditEvent
from domain.creators import throttle
from domain.creators.profiles import normalize_email
from domain.creators.throttle import TooManyAttempts
from models.creators import Creator, CreatorStatus


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


@dataclass(frozen=True)
class LoginLimits:
    per_email: int
    per_client: int
    window_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "LoginLimits":
        return cls(
            per_email=settings.creator_login_max_failures_per_email,
            per_client=settings.creator_login_max_failures_per_client,
            window_seconds=settings.creator_login_window_seconds,
        )


@dataclass(frozen=True)
class LoginAttempt:
    creator: Creator | None
    reservation: throttle.Reservation | None
    client_address: str
    email_key: str  # the throttle's key for the email, which the audit log keeps instead
    refused: TooManyAttempts | None = None


async def begin_login(
    session: AsyncSession, email: str, client_address: str, limits: LoginLimits
) -> LoginAttempt:
    """Count the attempt and find the creator; an attempt over a limit is recorded in the audit
    log and refused by `check_password` (429 with Retry-After).

    Unknown emails are counted like known ones, so the throttle reveals nothing.
    """
    email = normalize_email(email)
    email_key = throttle.key_for("email", email)
    creator = await session.scalar(select(Creator).where(Creator.email == email))
    try:
        reservation = await throttle.reserve(
            session,
            [
                throttle.Limit(email_key, limits.per_email),
                throttle.Limit(throttle.key_for("client", client_address), limits.per_client),
            ],
            limits.window_seconds,
        )
    except TooManyAttempts as refusal:
        attempt = LoginAttempt(creator, None, client_address, email_key, refusal)
        await _audit(session, AuditEvent.LOGIN_THROTTLED, attempt, actor=None)
        return attempt
    return LoginAttempt(creator, reservation, client_address, email_key)


@cache
def _decoy_hash(cost: int) -> str:
    return hash_password("decoy password for unknown emails", cost)


def _matches(attempt: LoginAttempt, password: str, cost: int) -> bool:
    if attempt.creator is None:
        verify_password(password, _decoy_hash(cost))  # same work, same time, for an unknown email
        return False
    return verify_password(password, attempt.creator.password_hash)


async def check_password(attempt: LoginAttempt, password: str, cost: int) -> Creator | None:
    """The creator when the password is right, None for every kind of failure; `cost` is the
    bcrypt cost passwords are hashed with (an unknown email is checked against a decoy of it)."""
    if attempt.refused is not None:
        raise attempt.refused
    matched = await asyncio.to_thread(_matches, attempt, password, cost)
    if not matched or attempt.creator is None or attempt.creator.status != CreatorStatus.ACTIVE:
        return None
    return attempt.creator


async def finish_login(
    session: AsyncSession, attempt: LoginAttempt, creator: Creator | None
) -> None:
    """Record the outcome; a successful login does not count against the limits."""
    if creator is None:
        await _audit(session, AuditEvent.CREATOR_LOGIN_FAILED, attempt, actor=None)
        return
    if attempt.reservation is not None:
        await throttle.release(session, attempt.reservation)
    await _audit(session, AuditEvent.CREATOR_LOGIN, attempt, actor=_party(creator))


def admit(creator: Creator | None) -> Creator:
    """One answer for every kind of failure."""
    if creator is None:
        raise InvalidCredentials("The email or password is wrong")
    return creator


def _party(creator: Creator | None) -> str | None:
    return audit.party(TokenKind.CREATOR, creator.id) if creator is not None else None


async def _audit(
    session: AsyncSession, event: AuditEvent, attempt: LoginAttempt, actor: str | None
) -> None:
    details: dict[str, object] = {"client": attempt.client_address, "email": attempt.email_key}
    if attempt.refused is not None:
        details["retry_after"] = attempt.refused.extra.get("retry_after")
    await audit.record(
        session, event, actor=actor, subject=_party(attempt.creator), details=details
    )
