"""Standard Webhooks signatures (https://www.standardwebhooks.com, spec 1.0.0).

A secret is `whsec_` + base64 of 24 to 64 random bytes, and those bytes are the HMAC key. The
signed content is `{webhook-id}.{webhook-timestamp}.{body}`; `webhook-signature` carries one or
more space-separated `v1,<base64 HMAC-SHA256>` (two while a rotated secret is still honoured).
A receiver accepts any one matching signature whose timestamp is within 5 minutes of its clock.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time

PREFIX = "whsec_"
VERSION = "v1"
KEY_BYTES = (24, 64)
TOLERANCE_SECONDS = 300


class InvalidSecret(ValueError):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; InvalidSecret for anything else."""
    if not secret.startswith(PREFIX):
        raise InvalidSecret("a secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a secret is whsec_ followed by base64") from None
    if not KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]:
        raise InvalidSecret(f"a secret holds {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 signature>` of one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return f"{VERSION}," + base64.b64encode(digest).decode()


def headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_),
    }


def verify(
    secret: str,
    message_id: str,
    timestamp: str,
    body: bytes,
    signatures: str,
    now: float | None = None,
) -> bool:
    """True when one of the `v1` signatures matches and the timestamp is within tolerance."""
    if not (message_id and timestamp.isdigit()):
        return False
    sent_at = int(timestamp)
    if abs((now if now is not None else time.time()) - sent_at) > TOLERANCE_SECONDS:
        return False
    try:
        expected = sign(secret, message_id, sent_at, body)
    except InvalidSecret:
        return False
    return any(
        candidate.startswith(f"{VERSION},") and hmac.compare_digest(expected, candidate)
        for candidate in signatures.split()
    )
