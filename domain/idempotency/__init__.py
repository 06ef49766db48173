"""Idempotency-Key records: a retried request replays the first response and changes nothing.

The key is claimed in the same transaction as the change it guards, so the change and the
response to replay commit together; a concurrent duplicate waits on the unique index and then
replays (PostgreSQL), or queues behind the writer (SQLite).

An anonymous caller has no identity to scope its keys by (an address is shared behind a proxy),
so its key is its secret (`Secret`): long enough not to be guessed, stored only as a hash, and
the response it guards (which may carry a new token) is stored encrypted with it: only the
holder of the key can replay it, and the database never holds the credential.
"""

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import bindparam, delete, null, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, RuleViolation
from models.idempotency import IdempotencyKey

MAX_KEY_LENGTH = 128  # short enough for every ledger key derived from it
MIN_SECRET_KEY_LENGTH = 32  # e.g. a UUID4: 122 random bits
_keys = IdempotencyKey.metadata.tables["idempotency_keys"]
_UNANSWERED = {"response_status": null(), "response_body": null(), "response_headers": null()}


class Secret:
    """An anonymous caller's Idempotency-Key, used as the secret it is."""

    def __init__(self, key: str) -> None:
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise RuleViolation(
                f"Without a bearer token, an Idempotency-Key is a secret: at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters (a UUID4 will do)",
                code="weak_idempotency_key",
            )
        digest = hashlib.sha256(b"idempotency-key:" + key.encode()).digest()
        self.stored_key = hashlib.sha256(digest).hexdigest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, body: Any) -> dict[str, str]:
        return {"sealed": self._fernet.encrypt(json.dumps(body).encode()).decode()}

    def open(self, stored: Any) -> Any:
        return json.loads(self._fernet.decrypt(stored["sealed"].encode()))


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any
    headers: dict[str, str]


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """A key this request holds until its transaction ends; `complete` stores its response."""

    id: uuid.UUID


def _claim(dialect: Any) -> Any:
    """A new key is inserted, an expired one is taken over, a live one is left alone; built once
    per dialect. A concurrent insert of the same key is waited for (PostgreSQL) or queued behind
    (SQLite) and then left alone."""
    fresh = ("id", "scope", "key", "request_hash", "created_at", "expires_at")
    taken = dialect.insert(_keys).values({c: bindparam(c) for c in fresh})
    return taken.on_conflict_do_update(
        index_elements=[_keys.c.scope, _keys.c.key],
        set_={**{c: taken.excluded[c] for c in fresh}, **_UNANSWERED},
        where=_keys.c.expires_at < taken.excluded.created_at,
    ).returning(_keys.c.id)


_CLAIM = {"postgresql": _claim(postgresql), "sqlite": _claim(sqlite)}
_EXISTING = select(IdempotencyKey).where(
    IdempotencyKey.scope == bindparam("scope"), IdempotencyKey.key == bindparam("key")
)
_COMPLETE = (
    update(_keys)
    .where(_keys.c.id == bindparam("claimed"))
    .values(
        response_status=bindparam("status"),
        response_body=bindparam("body", type_=_keys.c.response_body.type),
        response_headers=bindparam("headers", type_=_keys.c.response_headers.type),
    )
)


async def claim(
    session: AsyncSession, scope: str, key: str, request_hash: str, ttl: timedelta
) -> Claimed | Replay:
    """The key, claimed for this request, or the stored response to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise RuleViolation(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters",
            code="invalid_idempotency_key",
        )
    now, claimed = utcnow(), Claimed(uuid.uuid4())
    fresh = {"id": claimed.id, "scope": scope, "key": key, "request_hash": request_hash}
    taken = _CLAIM[session.get_bind().dialect.name]
    if (
        await session.execute(taken, {**fresh, "created_at": now, "expires_at": now + ttl})
    ).first():
        return claimed
    existing = (await session.execute(_EXISTING, {"scope": scope, "key": key})).scalar_one()
    if existing.request_hash != request_hash:
        raise RuleViolation(
            "This Idempotency-Key was used with a different request",
            code="idempotency_key_reused",
        )
    if existing.response_status is None:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress",
            code="idempotency_in_progress",
            retry_after=1,
        )
    return Replay(existing.response_status, existing.response_body, existing.response_headers or {})


async def complete(
    session: AsyncSession,
    claimed: Claimed,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    values = {"claimed": claimed.id, "status": status, "body": body, "headers": headers or None}
    await session.execute(_COMPLETE, values)


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
