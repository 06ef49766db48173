"""Standard Webhooks signatures, cross-checked against the `standardwebhooks` reference library
both ways."""

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core import signatures

BODY = b'{"id":"e1","type":"listing_created","timestamp":"2026-11-30T00:00:00+00:00","data":{}}'


def _their_headers(secret: str, message_id: str, sent_at: int, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(
        message_id, datetime.fromtimestamp(sent_at, UTC), body.decode()
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": signature,
    }


def test_our_signature_verifies_with_the_reference_library() -> None:
    secret, now = signatures.new_secret(), int(time.time())
    headers = signatures.headers([secret], "msg_1", now, BODY)
    assert Webhook(secret).verify(BODY, headers) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(signatures.new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_the_reference_librarys_signature_verifies_here() -> None:
    secret, now = signatures.new_secret(), int(time.time())
    theirs = _their_headers(secret, "msg_2", now, BODY)
    assert signatures.sign(secret, "msg_2", now, BODY) == theirs["webhook-signature"]
    assert signatures.verify(secret, "msg_2", str(now), BODY, theirs["webhook-signature"])
    assert not signatures.verify(secret, "msg_3", str(now), BODY, theirs["webhook-signature"])
    assert not signatures.verify(secret, "msg_2", str(now), BODY[:-1], theirs["webhook-signature"])


def test_a_rotated_secret_signs_beside_the_new_one() -> None:
    old, new, now = signatures.new_secret(), signatures.new_secret(), int(time.time())
    headers = signatures.headers([new, old], "msg_4", now, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):  # a consumer holding either secret accepts it
        assert Webhook(secret).verify(BODY, headers) is not None
        assert signatures.verify(secret, "msg_4", str(now), BODY, headers["webhook-signature"])


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamps_outside_five_minutes_are_refused(offset: int) -> None:
    secret, now = signatures.new_secret(), int(time.time())
    signature = signatures.sign(secret, "msg_5", now + offset, BODY)
    assert not signatures.verify(secret, "msg_5", str(now + offset), BODY, signature, now=now)
    assert signatures.verify(secret, "msg_5", str(now + offset), BODY, signature, now=now + offset)


def test_only_v1_signatures_count() -> None:
    secret, now = signatures.new_secret(), int(time.time())
    signature = signatures.sign(secret, "msg_6", now, BODY)
    as_v1a = "v1a," + signature.split(",", 1)[1]
    assert not signatures.verify(secret, "msg_6", str(now), BODY, as_v1a)
    assert signatures.verify(secret, "msg_6", str(now), BODY, f"{as_v1a} {signature}")


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "not-a-secret",
        "whsec_",
        "whsec_***",
        "whsec_" + base64.b64encode(b"x" * 23).decode(),  # shorter than 24 bytes
        "whsec_" + base64.b64encode(b"x" * 65).decode(),  # longer than 64 bytes
    ],
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(signatures.InvalidSecret):
        signatures.key_of(secret)
    assert not signatures.verify(secret, "msg_7", str(int(time.time())), BODY, "v1,AAAA")


def test_new_secrets_are_standard() -> None:
    secret = signatures.new_secret()
    assert secret.startswith("whsec_") and len(signatures.key_of(secret)) == 32
    assert secret != signatures.new_secret()
