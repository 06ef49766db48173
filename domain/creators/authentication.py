"""Creator login: email and password, throttled per email and per client address.

A login runs in three steps so that no database transaction is open while bcrypt works and a
failed attempt stays counted although the request fails:
`begin_login` (counts the attempt, loads the creator; its own unit of work) →
`check_password` (no database) → `forget_attempt` after a success (its own unit of work).
"""

import asyncio
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Unauthorized
from core.security import hash_password, verify_password
from core.settings import Settings
from domain.creators import throttle
from domain.creators.profiles import ACTIVE, normalize_email
from models.creators import Creator


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
    reservation: throttle.Reservation


async def begin_login(
    session: AsyncSession, email: str, client_address: str, limits: LoginLimits
) -> LoginAttempt:
    """Count the attempt (429 with Retry-After when a limit is reached) and find the creator.

    Unknown emails are counted like known ones, so the throttle reveals nothing.
    """
    email = normalize_email(email)
    reservation = await throttle.reserve(
        session,
        [
            throttle.Limit(throttle.key_for("email", email), limits.per_email),
            throttle.Limit(throttle.key_for("client", client_address), limits.per_client),
        ],
        limits.window_seconds,
    )
    creator = await session.scalar(select(Creator).where(Creator.email == email))
    return LoginAttempt(creator, reservation)


@cache
def _decoy_hash() -> str:
    return hash_password("decoy password for unknown emails")


def _matches(attempt: LoginAttempt, password: str) -> bool:
    if attempt.creator is None:
        verify_password(password, _decoy_hash())  # same work, same time, for an unknown email
        return False
    return verify_password(password, attempt.creator.password_hash)


async def check_password(attempt: LoginAttempt, password: str) -> Creator:
    """The creator when the password is right; one answer for every kind of failure."""
    matched = await asyncio.to_thread(_matches, attempt, password)
    if not matched or attempt.creator is None or attempt.creator.status != ACTIVE:
        raise InvalidCredentials("The email or password is wrong")
    return attempt.creator


async def forget_attempt(session: AsyncSession, attempt: LoginAttempt) -> None:
    """A successful login does not count against the limits."""
    await throttle.release(session, attempt.reservation)
