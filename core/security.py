"""JWTs for the three kinds of caller, and password hashing.

Each kind has its own `typ` claim and audience; the algorithm is pinned by the settings, so a
token signed another way (or with `alg: none`) never verifies.
"""

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import bcrypt
from jose import JWTError, jwt

BCRYPT_COST = 12


class TokenKind(StrEnum):
    AGENT = "agent"
    CREATOR = "creator"
    OPERATOR = "operator"

    @property
    def audience(self) -> str:
        return f"agentchains:{self.value}"


class InvalidToken(Exception):
    """Missing, malformed, expired, wrongly signed or of unknown kind."""


def create_token(
    kind: TokenKind,
    subject: uuid.UUID | str,
    *,
    secret: str,
    algorithm: str,
    expire_hours: int,
    **claims: Any,
) -> str:
    now = datetime.now(UTC)
    payload = {
        **claims,
        "sub": str(subject),
        "typ": kind.value,
        "aud": kind.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=expire_hours)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=algorithm)


def decode_token(token: str, *, secret: str, algorithm: str) -> tuple[TokenKind, dict[str, Any]]:
    """The verified claims and the token's kind; raises InvalidToken for anything else."""
    try:
        unverified = jwt.get_unverified_claims(token)
        kind = TokenKind(str(unverified.get("typ")))
        claims = jwt.decode(token, secret, algorithms=[algorithm], audience=kind.audience)
    except (JWTError, ValueError, AttributeError) as exc:
        raise InvalidToken(str(exc)) from None
    if not claims.get("sub") or not claims.get("exp"):
        raise InvalidToken("token lacks sub or exp")
    return kind, claims


def _prehash(password: str) -> bytes:
    # bcrypt reads only 72 bytes; a SHA-256 pre-hash makes every character count.
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, cost: int = BCRYPT_COST) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=cost)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode())
    except ValueError:
        return False
