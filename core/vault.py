"""Secrets at rest: webhook signing secrets and gateway tokens are stored encrypted (Fernet,
AES-128-CBC + HMAC-SHA256) under a key from the settings, and opened only where they are used.

The key is `WEBHOOK_SECRETS_KEY`, or, when that is empty, derived from `JWT_SECRET_KEY` (which
production refuses to leave at its default). Changing it makes stored secrets unreadable: the
owners then rotate them.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.settings import Settings

CONTEXT = b"agentchains webhook secrets"


class Vault:
    def __init__(self, key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT).derive(
            key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("this secret was sealed under another key") from None


def vault_of(settings: Settings) -> Vault:
    return Vault(settings.webhook_secrets_key or settings.jwt_secret_key)
