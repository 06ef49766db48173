import uuid

import pytest
from jose import jwt

from core.security import (
    InvalidToken,
    TokenKind,
    create_token,
    decode_token,
    hash_password,
    verify_password,
)
from core.settings import DEFAULT_JWT_SECRET, Settings

SECRET = "s" * 40


@pytest.mark.parametrize("kind", list(TokenKind))
def test_each_kind_round_trips_with_its_audience(kind: TokenKind) -> None:
    subject = uuid.uuid4()
    token = create_token(kind, subject, secret=SECRET, algorithm="HS256", expire_hours=1)
    decoded_kind, claims = decode_token(token, secret=SECRET, algorithm="HS256")
    assert decoded_kind is kind
    assert claims["sub"] == str(subject)
    assert claims["aud"] == f"agentchains:{kind.value}"


def _forge(claims: dict[str, object], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "",
        _forge({"sub": "x", "typ": "agent", "aud": "agentchains:agent", "exp": 1}),  # expired
        _forge({"sub": "x", "typ": "agent", "aud": "agentchains:operator", "exp": 4102444800}),
        _forge({"sub": "x", "typ": "root", "aud": "agentchains:root", "exp": 4102444800}),
        _forge({"sub": "x", "typ": "agent", "aud": "agentchains:agent"}),  # no expiry
        _forge(
            {"sub": "x", "typ": "agent", "aud": "agentchains:agent", "exp": 4102444800},
            secret="other",
        ),
        _forge(
            {"sub": "x", "typ": "agent", "aud": "agentchains:agent", "exp": 4102444800},
            algorithm="HS512",
        ),
    ],
    ids=[
        "garbage",
        "empty",
        "expired",
        "wrong-aud",
        "unknown-kind",
        "no-exp",
        "wrong-key",
        "other-alg",
    ],
)
def test_refuses_tokens_that_are_not_ours(token: str) -> None:
    with pytest.raises(InvalidToken):
        decode_token(token, secret=SECRET, algorithm="HS256")


def test_refuses_unsigned_alg_none() -> None:
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    body = jwt.encode(
        {"sub": "x", "typ": "operator", "aud": "agentchains:operator", "exp": 4102444800},
        SECRET,
    ).split(".")[1]
    with pytest.raises(InvalidToken):
        decode_token(f"{header}.{body}.", secret=SECRET, algorithm="HS256")


def test_passwords_longer_than_72_bytes_count_every_character() -> None:
    base = "p" * 80
    hashed = hash_password(base + "A", cost=4)
    assert verify_password(base + "A", hashed)
    assert not verify_password(base + "B", hashed)
    assert not verify_password("wrong", "not-a-bcrypt-hash")


def test_only_an_explicit_development_mode_accepts_the_built_in_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    for refused in (
        {},  # nothing configured: production
        {"environment": "test"},
        {"environment": "production", "jwt_secret_key": DEFAULT_JWT_SECRET},
        {"environment": "production", "jwt_secret_key": "a-short-secret"},
    ):
        with pytest.raises(ValueError, match="JWT_SECRET_KEY"):
            Settings(**refused)  # type: ignore[arg-type]
    assert Settings(environment="development").jwt_secret_key == DEFAULT_JWT_SECRET
    assert Settings(environment="production", jwt_secret_key="s" * 32).environment


def test_settings_read_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_PLATFORM_FEE_PCT", "0.03")
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", "q1")
    monkeypatch.setenv("CDN_HOT_CACHE_MAX_BYTES", "1024")
    settings = Settings()
    assert str(settings.token_platform_fee_pct) == "0.03"
    assert settings.temporal_task_queue == "q1"
    assert settings.cdn_hot_cache_max_bytes == 1024
