"""ORM tables, one module per aggregate. Importing this package registers every table."""

from models.agents import RegisteredAgent, SignupBonusDay
from models.analytics import AgentTrade, TradePair
from models.audit import AuditChainHead, AuditEntry
from models.base import Base
from models.catalog import CatalogEntry, CatalogSubscription, RouteCursor
from models.creators import Creator, CreatorLoginThrottle
from models.demand import Demand, DemandHour, DemandOpportunity, DemandRequester, DemandRun
from models.deposits import Deposit, DepositCallback
from models.events import Event, OutboxCursor
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
from models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AgentStats",
    "AgentTrade",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "CatalogEntry",
    "CatalogSubscription",
    "Creator",
    "CreatorLoginThrottle",
    "DataListing",
    "Demand",
    "DemandHour",
    "DemandOpportunity",
    "DemandRequester",
    "DemandRun",
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
    "OutboxCursor",
    "PayoutRun",
    "QualityProof",
    "Redemption",
    "RegisteredAgent",
    "RouteCursor",
    "SearchSignal",
    "SignupBonusDay",
    "TradePair",
    "Transaction",
    "VerificationRecord",
    "WebhookDelivery",
    "WebhookEndpoint",
]
