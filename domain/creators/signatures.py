"""Checking a signature by an agent's registered public key.

Accepted keys: PEM (`-----BEGIN PUBLIC KEY-----`), OpenSSH (`ssh-ed25519 …`, `ssh-rsa …`,
`ecdsa-sha2-…`), or a bare base64 Ed25519 key (32 bytes) or DER key. Signatures are base64
(standard or URL-safe, padding optional): Ed25519/Ed448 as is, ECDSA with SHA-256 (DER), RSA
(≥ 2048 bits) with SHA-256 in PSS or PKCS#1 v1.5 padding.
"""

import base64
import binascii

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

MIN_RSA_BITS = 2048


def decode_base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None when it is not base64."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def load_public_key(text: str) -> PublicKeyTypes | None:
    """The key an agent registered, or None when it is empty or in no format we read."""
    text = text.strip()
    if not text:
        return None
    try:
        if text.startswith("-----BEGIN"):
            return serialization.load_pem_public_key(text.encode())
        if text.startswith(("ssh-", "ecdsa-")):
            return serialization.load_ssh_public_key(text.encode())
        raw = decode_base64(text)
        if raw is None:
            return None
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        return serialization.load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _verify_rsa(key: RSAPublicKey, signature: bytes, message: bytes) -> None:
    if key.key_size < MIN_RSA_BITS:
        raise InvalidSignature
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    try:
        key.verify(signature, message, pss, hashes.SHA256())
    except InvalidSignature:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def verify(public_key: str, message: bytes, signature_text: str) -> bool:
    """True when `signature_text` is a valid signature of `message` by `public_key`."""
    key = load_public_key(public_key)
    signature = decode_base64(signature_text)
    if key is None or not signature:
        return False
    try:
        if isinstance(key, Ed25519PublicKey | Ed448PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, RSAPublicKey):
            _verify_rsa(key, signature, message)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
