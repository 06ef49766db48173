"""ORM tables, one module per aggregate. Importing this package registers every table."""

from models.agents import RegisteredAgent, SignupBonusDay
from models.audit import AuditChainHead, AuditEntry
from models.base import Base
from models.catalog import CatalogEntry, CatalogSubscription, RouteCursor
from models.creators import Creator, CreatorLoginThrottle
from models.deposits import Deposit, DepositCallback
from models.events import Event
from models.idempotency import IdempotencyKey
from models.ledger import (
    LedgerAccount,
    LedgerChainHead,
    LedgerEntry,
    LedgerHold,
    LedgerMovement,
)
from models.listings import DataListing, QualityProof, SearchSignal
from models.operators import Operator
from models.purchases import Transaction, VerificationRecord
from models.redemptions import PayoutRun, Redemption
from models.reputation import AgentStats
from models.webhooks import WebhookCursor, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AgentStats",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "CatalogEntry",
    "CatalogSubscription",
    "Creator",
    "CreatorLoginThrottle",
    "DataListing",
    "Deposit",
    "DepositCallback",
    "Event",
    "IdempotencyKey",
    "LedgerAccount",
    "LedgerChainHead",
    "LedgerEntry",
    "LedgerHold",
    "LedgerMovement",
    "Operator",
    "PayoutRun",
    "QualityProof",
    "Redemption",
    "RegisteredAgent",
    "RouteCursor",
    "SearchSignal",
    "SignupBonusDay",
    "Transaction",
    "VerificationRecord",
    "WebhookCursor",
    "WebhookDelivery",
    "WebhookEndpoint",
]
