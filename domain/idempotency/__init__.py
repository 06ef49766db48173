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
from sqlalchemy import delete, null, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from core.clock import utcnow
from core.db import upsert
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


async def claim(
    session: AsyncSession, scope: str, key: str, request_hash: str, ttl: timedelta
) -> IdempotencyKey | Replay:
    """The new record to complete, or the stored response to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise RuleViolation(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters",
            code="invalid_idempotency_key",
        )
    now = utcnow()
    record = IdempotencyKey(
        id=uuid.uuid4(), scope=scope, key=key, request_hash=request_hash, expires_at=now + ttl
    )
    # One statement: a new key is inserted, an expired one is taken over, a live one is left.
    # A concurrent insert of the same key is waited for (PostgreSQL) or queued behind (SQLite).
    fresh = {c: getattr(record, c) for c in ("id", "scope", "key", "request_hash", "expires_at")}
    taken = upsert(session, _keys).values(**fresh, created_at=now)
    taken = taken.on_conflict_do_update(
        index_elements=[_keys.c.scope, _keys.c.key],
        set_={**{c: taken.excluded[c] for c in fresh}, **_UNANSWERED, "created_at": now},
        where=_keys.c.expires_at < now,
    ).returning(_keys.c.id)
    if (await session.execute(taken)).first() is not None:
        make_transient_to_detached(record)
        session.add(record)  # known to the session as stored, so completing it is an UPDATE
        return record
    existing = (
        await session.execute(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
    ).scalar_one()
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


def complete(
    record: IdempotencyKey, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    record.response_status = status
    record.response_body = body
    record.response_headers = headers or None


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
