"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`."""

import base64
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    message_id: str,
    timestamp: str,
    body: bytes,
    signatures: str,
    now: float | None = None,
) -> bool:
    """True when one of the space-separated signatures matches and the timestamp is fresh."""
    if not (secret and message_id and timestamp.isdigit()):
        return False
    sent_at = int(timestamp)
    if abs((now if now is not None else time.time()) - sent_at) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, message_id, sent_at, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split())
