"""Every event the marketplace writes to the outbox, and who may see it.

- PUBLIC: every feed client (and webhook subscribers of the type).
- PRIVATE: only the agents/creators in the event's audience (and operators).
- OPERATORS: operators only.
- INTERNAL: never leaves the server (API processes act on it themselves).
"""

from collections.abc import Collection
from enum import StrEnum

from core.security import TokenKind


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    OPERATORS = "operators"
    INTERNAL = "internal"


class EventType(StrEnum):
    AGENT_REGISTERED = "agent_registered"
    AGENT_DEACTIVATED = "agent_deactivated"
    AGENT_CLAIMED = "agent_claimed"
    CREATOR_REGISTERED = "creator_registered"
    LISTING_CREATED = "listing_created"
    TRANSACTION_INITIATED = "transaction_initiated"
    PAYMENT_CONFIRMED = "payment_confirmed"
    CONTENT_DELIVERED = "content_delivered"
    TRANSACTION_COMPLETED = "transaction_completed"
    TRANSACTION_DISPUTED = "transaction_disputed"
    TRANSACTION_EXPIRED = "transaction_expired"
    TRANSACTION_REFUNDED = "transaction_refunded"
    TRANSACTION_FAILED = "transaction_failed"
    EXPRESS_PURCHASE = "express_purchase"
    TOKEN_DEPOSIT = "token_deposit"
    TOKEN_TRANSFER = "token_transfer"
    REDEMPTION_CREATED = "redemption_created"
    REDEMPTION_PROCESSING = "redemption_processing"
    REDEMPTION_COMPLETED = "redemption_completed"
    REDEMPTION_CANCELLED = "redemption_cancelled"
    REDEMPTION_REJECTED = "redemption_rejected"
    REDEMPTION_FAILED = "redemption_failed"
    CATALOG_UPDATE = "catalog_update"
    CDN_DECAY = "cdn_decay"
    LEDGER_AUDIT_FAILED = "ledger_audit_failed"
    DEMAND_SPIKE = "demand_spike"
    OPPORTUNITY_CREATED = "opportunity_created"

    @property
    def visibility(self) -> Visibility:
        return VISIBILITY[self]


VISIBILITY: dict[EventType, Visibility] = {
    EventType.AGENT_REGISTERED: Visibility.PUBLIC,  # its payload holds nothing private
    EventType.AGENT_DEACTIVATED: Visibility.PRIVATE,
    EventType.AGENT_CLAIMED: Visibility.PRIVATE,  # the agent and its creator
    EventType.CREATOR_REGISTERED: Visibility.PRIVATE,
    EventType.LISTING_CREATED: Visibility.PUBLIC,
    EventType.TRANSACTION_INITIATED: Visibility.PRIVATE,  # buyer and seller
    EventType.PAYMENT_CONFIRMED: Visibility.PRIVATE,
    EventType.CONTENT_DELIVERED: Visibility.PRIVATE,
    EventType.TRANSACTION_COMPLETED: Visibility.PRIVATE,
    EventType.TRANSACTION_DISPUTED: Visibility.PRIVATE,
    EventType.TRANSACTION_EXPIRED: Visibility.PRIVATE,
    EventType.TRANSACTION_REFUNDED: Visibility.PRIVATE,
    EventType.TRANSACTION_FAILED: Visibility.PRIVATE,
    EventType.EXPRESS_PURCHASE: Visibility.PRIVATE,
    EventType.TOKEN_DEPOSIT: Visibility.PRIVATE,  # the agent
    EventType.TOKEN_TRANSFER: Visibility.PRIVATE,  # sender and receiver
    EventType.REDEMPTION_CREATED: Visibility.PRIVATE,  # the creator
    EventType.REDEMPTION_PROCESSING: Visibility.PRIVATE,
    EventType.REDEMPTION_COMPLETED: Visibility.PRIVATE,
    EventType.REDEMPTION_CANCELLED: Visibility.PRIVATE,
    EventType.REDEMPTION_REJECTED: Visibility.PRIVATE,
    EventType.REDEMPTION_FAILED: Visibility.PRIVATE,
    EventType.CATALOG_UPDATE: Visibility.PRIVATE,  # the one subscriber it matched
    EventType.CDN_DECAY: Visibility.INTERNAL,
    EventType.LEDGER_AUDIT_FAILED: Visibility.OPERATORS,
    EventType.DEMAND_SPIKE: Visibility.PUBLIC,  # a pattern and its figures, no requester
    EventType.OPPORTUNITY_CREATED: Visibility.PUBLIC,
}


def visible_to(
    event_type: str, audience: Collection[str], viewer_kind: TokenKind, viewer_id: str
) -> bool:
    """Whether this viewer (an agent, creator or operator, by id) may see such an event.
    A type this code does not know is shown to nobody."""
    try:
        visibility = EventType(event_type).visibility
    except ValueError:
        return False
    if visibility is Visibility.PUBLIC:
        return True
    if visibility is Visibility.INTERNAL:
        return False
    if viewer_kind is TokenKind.OPERATOR:
        return True
    return visibility is Visibility.PRIVATE and viewer_id in audience
