"""Every setting of the system, read from the environment (or `.env`) by name.

Names and defaults follow the original AgentChains configuration tables; fractions and
amounts are `Decimal`, never floats, and are turned into integer units by `core.money`.
"""

from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.money import MAX_ARD
from core.security import BCRYPT_COST

DEFAULT_JWT_SECRET = "dev-secret-change-in-production"
MIN_JWT_SECRET_LENGTH = 32  # 256 bits of HMAC key for HS256
NO_WALLET = "0x0000000000000000000000000000000000000000"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Anything but an explicit `development` is treated as production (a real JWT secret).
    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"

    # Server
    marketplace_host: str = "0.0.0.0"
    marketplace_port: int = 8000
    cors_origins: str = "*"

    # Database
    database_url: str = "sqlite+aiosqlite:///./data/marketplace.db"
    db_pool_size: int = 5
    db_max_overflow: int = 10

    # Authentication
    jwt_secret_key: str = DEFAULT_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_expire_hours: int = 168

    # Credits and pricing
    token_name: str = "ARD"
    token_peg_usd: Decimal = Decimal("0.001")
    token_platform_fee_pct: Decimal = Decimal("0.02")
    token_burn_pct: Decimal = Decimal("0.50")
    token_signup_bonus: Decimal = Decimal("100")
    token_quality_bonus_pct: Decimal = Decimal("0.10")
    token_quality_threshold: Decimal = Decimal("0.80")
    # The bonus never exceeds this share of the fee paid on the same sale (ADR 0030): a buyer and
    # a seller together always pay the platform more than the bonus gives back. Below 1.
    token_quality_bonus_max_fee_share: Decimal = Decimal("0.50")

    # Payments
    payment_mode: Literal["simulated", "testnet", "mainnet"] = "simulated"
    x402_facilitator_url: str = "https://x402.org/facilitator"
    x402_network: str = "base-sepolia"
    x402_pay_to: str = NO_WALLET  # the platform's wallet; required in testnet/mainnet mode
    x402_asset: str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"  # USDC on Base Sepolia
    x402_max_timeout_seconds: int = 300

    # Content storage
    content_store_path: str = "./data/content_store"
    azure_storage_connection_string: str = ""
    azure_storage_container: str = "content-store"

    # MCP
    mcp_enabled: bool = True
    mcp_rate_limit_per_minute: int = 60

    # CDN
    cdn_hot_cache_max_bytes: int = 268_435_456
    cdn_decay_interval_seconds: int = 60
    cdn_warm_path: str = "./data/cdn_warm"

    # Creator economy
    creator_royalty_pct: Decimal = Decimal("1.0")
    creator_min_withdrawal_ard: Decimal = Decimal("10000")
    creator_payout_day: int = 1

    # Creator login: failed attempts allowed per sliding window, per email and per client
    # address (counted in the database, so every API process shares them)
    creator_login_max_failures_per_email: int = 10
    creator_login_max_failures_per_client: int = 30
    creator_login_window_seconds: int = 60
    # bcrypt's cost for creator passwords; below 12 only outside production (the tests use 4)
    creator_password_cost: Annotated[int, Field(ge=4, le=16)] = 12
    # How long a creator has to get an agent's signature over a claim challenge
    creator_claim_challenge_ttl_seconds: int = 300

    # Redemption
    redemption_min_api_credits_ard: Decimal = Decimal("100")
    redemption_min_gift_card_ard: Decimal = Decimal("1000")
    redemption_min_bank_ard: Decimal = Decimal("10000")
    redemption_min_upi_ard: Decimal = Decimal("5000")
    # Provider calls before a redemption fails; the first pause between them, doubling up to
    # the longest.
    redemption_payout_attempts: Annotated[int, Field(ge=1)] = 5
    redemption_retry_seconds: Annotated[int, Field(ge=1)] = 1
    redemption_retry_max_seconds: Annotated[int, Field(ge=1)] = 300
    razorpay_key_id: str = ""
    razorpay_key_secret: str = ""
    razorpay_base_url: str = "https://api.razorpay.com"
    razorpay_account_number: str = ""

    # OpenClaw integration
    openclaw_webhook_max_retries: int = 3
    openclaw_webhook_timeout_seconds: int = 10
    openclaw_webhook_max_failures: int = 5

    # Seller webhooks (Standard Webhooks), delivered by a durable workflow per endpoint
    webhook_retry_base_seconds: float = 5.0  # the first pause between attempts; doubles each time
    webhook_max_attempts: int = 8  # attempts per event before it counts as failed
    webhook_timeout_seconds: int = 15
    webhook_max_failures: int = 5  # consecutive failed events before an endpoint is paused
    webhook_rotation_grace_hours: int = 24  # a rotated secret still signs beside the new one
    webhook_delivery_retention_days: int = 30  # delivered or failed deliveries are then deleted
    # Hosts and CIDRs webhooks may reach although they are not public (tests: 127.0.0.1/32)
    webhook_allowlist: str = ""
    webhook_secrets_key: str = ""  # encrypts stored webhook secrets; default: from JWT_SECRET_KEY

    # Rate limiting (requests per minute; ADR 0019). Shared by every API process through Redis
    # (`redis://host:6379/0`) when a storage URL is set, else kept in this process's memory.
    rest_rate_limit_authenticated: int = 120
    rest_rate_limit_anonymous: int = 30
    rate_limit_storage_url: str = ""
    rate_limit_key_prefix: str = "agentchains"
    # Proxies whose X-Forwarded-For names the client (comma-separated IPs/CIDRs); none: the peer
    trusted_proxies: str = ""
    # Registration cannot be farmed: per client address, and a daily budget of signup bonuses
    registrations_per_client_per_hour: int = 10
    signup_bonus_daily_budget_ard: Annotated[Decimal, Field(ge=0, le=MAX_ARD)] = Decimal("100000")

    # Processes: API processes on the one port (`make run`), the worker's Temporal metrics port
    api_processes: int = 1
    worker_metrics_port: int = 9464

    # Deposits and the ledger audit
    deposit_expiry_seconds: int = 86_400
    payment_webhook_secret: str = ""
    ledger_audit_interval_minutes: int = 60

    # Purchases: the window to pay, to deliver, and to verify
    purchase_delivery_timeout: int = 86_400

    # Listings
    listing_max_content_bytes: int = 1_048_576
    # Bytes of discovery pages each API process keeps, served again until the catalog changes
    # (ADR 0043); 0 searches every time
    discovery_cache_bytes: Annotated[int, Field(ge=0)] = 16 * 1024 * 1024

    # Largest request body accepted (413 above it): room for the largest listing in base64
    max_body_bytes: int = 2_097_152

    # Idempotency records are kept at least this long
    idempotency_key_ttl_hours: int = 24

    # Demand (ADR 0025): search signals are kept this long, then purged by housekeeping; the
    # aggregation schedule runs this often
    search_signal_retention_days: int = 30
    demand_aggregation_interval_seconds: int = 300

    # Outbox events are kept this long (a feed client can resume within it), then purged
    event_retention_days: int = 7
    # The live feed: how often each API process reads the outbox when no wake-up comes
    # (PostgreSQL wakes it on every commit; SQLite has only this), and how many events a
    # client may fall behind before it is dropped
    feed_poll_interval_ms: int = 100
    feed_client_queue_size: int = 1000

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "agentchains"
    temporal_ui_port: int = 8233
    temporal_db_path: str = "./data/temporal.db"
    worker_shutdown_timeout_seconds: int = 30

    @model_validator(mode="after")
    def _refuse_unsafe_settings(self) -> "Settings":
        weak = (
            self.jwt_secret_key == DEFAULT_JWT_SECRET
            or len(self.jwt_secret_key) < MIN_JWT_SECRET_LENGTH
        )
        if weak and self.environment != "development":
            raise ValueError(
                f"JWT_SECRET_KEY must be a secret of at least {MIN_JWT_SECRET_LENGTH} characters"
                " (the built-in one is accepted only with ENVIRONMENT=development)"
            )
        if self.max_body_bytes < 4 * ((self.listing_max_content_bytes + 2) // 3) + 65_536:
            raise ValueError(
                "MAX_BODY_BYTES must leave room for the largest listing content in base64"
                " (LISTING_MAX_CONTENT_BYTES * 4/3) plus 64 KiB of other fields"
            )
        if not 0 <= self.token_quality_bonus_max_fee_share < 1:
            raise ValueError(
                "TOKEN_QUALITY_BONUS_MAX_FEE_SHARE must be at least 0 and below 1 (ADR 0030)"
            )
        if self.creator_password_cost < BCRYPT_COST and self.environment == "production":
            raise ValueError(f"CREATOR_PASSWORD_COST must be at least {BCRYPT_COST} in production")
        if self.payment_mode != "simulated" and self.x402_pay_to == NO_WALLET:
            raise ValueError("X402_PAY_TO must be the platform's wallet when PAYMENT_MODE is x402")
        if self.payment_webhook_secret and not self.payment_webhook_secret.startswith("whsec_"):
            raise ValueError("PAYMENT_WEBHOOK_SECRET is a Standard Webhooks secret (whsec_...)")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
