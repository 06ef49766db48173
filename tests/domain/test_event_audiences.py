"""Every event type, from its real emitter: who may see it and what it carries.

The scenario runs the domain steps the activities and routes run (registration, a listing, an
express purchase, closed purchases, a transfer, a deposit, a creator with a claim and
redemptions, a deactivation, the cache decay) and checks each event it wrote against the table
below, for every kind of viewer: the buyer, the seller, a bystander agent, the creator, another
creator, an operator. `ledger_audit_failed` comes from a tampered ledger
(tests/domain/test_ledger_tampering.py).
"""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.content import ContentActivities
from core.clock import utcnow
from core.db import unit_of_work
from core.security import TokenKind
from core.settings import Settings
from domain import agents, catalog, creators, events, listings, purchases, redemptions
from domain.catalog import subscriptions
from domain.content.store import open_store
from domain.demand import signals
from domain.events import EventType, Visibility
from domain.events.envelope import envelope
from domain.wallet import deposits, transfers
from tests.conftest import token
from tests.demand_helpers import aggregate
from tests.ledger_helpers import mint
from workflows.contracts.purchase import PurchaseStatus
from workflows.contracts.redemption import RedemptionStatus

Sessions = async_sessionmaker[AsyncSession]
Cast = dict[str, str]  # role -> principal id
Audience = Callable[[dict[str, Any], Cast], set[str]]

PURCHASE = {"transaction_id", "listing_id", "status", "amount_ard"}
REDEMPTION = {"redemption_id", "status", "redemption_type", "amount_ard"}


def _roles(*roles: str) -> Audience:
    return lambda _payload, cast: {cast[r] for r in roles}


def _agent(payload: dict[str, Any], _cast: Cast) -> set[str]:
    return {payload["agent_id"]}


def _public(_payload: dict[str, Any], _cast: Cast) -> set[str]:
    return set()


# type -> (visibility, its private audience, the envelope's data keys)
TABLE: dict[EventType, tuple[Visibility, Audience, set[str]]] = {
    EventType.AGENT_REGISTERED: (Visibility.PUBLIC, _public, {"agent_id", "name"}),
    EventType.AGENT_DEACTIVATED: (Visibility.PRIVATE, _roles("bystander"), {"agent_id"}),
    EventType.AGENT_CLAIMED: (
        Visibility.PRIVATE,
        _roles("seller", "creator"),
        {"agent_id", "creator_id"},
    ),
    EventType.CREATOR_REGISTERED: (
        Visibility.PRIVATE,
        lambda payload, _: {payload["creator_id"]},
        {"creator_id"},
    ),
    EventType.LISTING_CREATED: (
        Visibility.PUBLIC,
        _public,
        {"listing_id", "title", "category", "price_usdc", "seller_id"},
    ),
    **{
        kind: (Visibility.PRIVATE, _roles("buyer", "seller"), PURCHASE)
        for kind in (
            EventType.TRANSACTION_INITIATED,
            EventType.PAYMENT_CONFIRMED,
            EventType.CONTENT_DELIVERED,
            EventType.TRANSACTION_COMPLETED,
            EventType.TRANSACTION_DISPUTED,
            EventType.TRANSACTION_EXPIRED,
            EventType.TRANSACTION_REFUNDED,
            EventType.TRANSACTION_FAILED,
            EventType.EXPRESS_PURCHASE,
        )
    },
    EventType.TOKEN_DEPOSIT: (
        Visibility.PRIVATE,
        _agent,
        {"agent_id", "amount_ard", "reason", "deposit_id"},
    ),
    EventType.TOKEN_TRANSFER: (
        Visibility.PRIVATE,
        _roles("buyer", "seller"),
        {"movement_id", "from_agent_id", "to_agent_id", "amount_ard", "fee_ard", "burn_ard"},
    ),
    **{
        kind: (Visibility.PRIVATE, _roles("creator"), REDEMPTION)
        for kind in (
            EventType.REDEMPTION_CREATED,
            EventType.REDEMPTION_PROCESSING,
            EventType.REDEMPTION_COMPLETED,
            EventType.REDEMPTION_CANCELLED,
            EventType.REDEMPTION_REJECTED,
            EventType.REDEMPTION_FAILED,
        )
    },
    EventType.CATALOG_UPDATE: (
        Visibility.PRIVATE,
        _roles("buyer"),  # the subscriber the entry matched
        {"subscription_id", "change", "entry"},
    ),
    EventType.CDN_DECAY: (Visibility.INTERNAL, _public, set()),
    EventType.DEMAND_SPIKE: (
        Visibility.PUBLIC,
        _public,
        {"pattern", "category", "velocity", "search_count", "unique_requesters"},
    ),
    EventType.OPPORTUNITY_CREATED: (
        Visibility.PUBLIC,
        _public,
        {
            "opportunity_id",
            "pattern",
            "category",
            "urgency_score",
            "estimated_revenue_usdc",
            "competing_listings",
            "expires_at",
        },
    ),
    EventType.LEDGER_AUDIT_FAILED: (
        Visibility.OPERATORS,
        _public,
        {"severity", "chain", "audit_chain", "supply", "valid"},
    ),
}


async def _scenario(sessions: Sessions, settings: Settings, tmp_path: Path) -> Cast:
    store = open_store(str(tmp_path / "content"))
    profile = agents.AgentProfile()
    async with unit_of_work(sessions) as session:
        buyer = await agents.register(session, f"b-{uuid.uuid4().hex[:8]}", "both", profile, 10**9)
        seller = await agents.register(session, f"s-{uuid.uuid4().hex[:8]}", "both", profile, 0)
        bystander = await agents.register(session, f"x-{uuid.uuid4().hex[:8]}", "both", profile, 1)
        draft = listings.Draft("t", "web_search", b"result", "text/plain", 5_000)
        [item] = await listings.publish(session, store, seller.id, [draft])
        session.add(subscriptions.new(uuid.uuid4(), buyer.id, subscriptions.Interest("audience.*")))
        await session.flush()
        await catalog.create(session, seller.id, catalog.Declaration("audience.x", "t", 0, 10))
    for express, close in [(True, None), *((False, s) for s in PurchaseStatus if s.final)]:
        if close == PurchaseStatus.COMPLETED:
            continue
        async with unit_of_work(sessions) as session:
            tx, _ = await purchases.open_purchase(
                session, uuid.uuid4(), buyer.id, str(item.id), express
            )
            await purchases.pay(session, tx.id)
            await purchases.deliver(session, tx.id, item.content_hash)
            if close is None:
                await purchases.settle(session, tx.id, settings)
            else:
                await purchases.release(session, tx.id, close, "test")
    async with unit_of_work(sessions) as session:
        await transfers.transfer(
            session,
            settings,
            transfers.Transfer(buyer.id, str(seller.id), 1_000, "", str(uuid.uuid4())),
        )
        deposit, _ = await deposits.open_deposit(
            session, uuid.uuid4(), buyer.id, Decimal("1"), "USD", utcnow() + timedelta(hours=1)
        )
        await deposits.credit(session, deposit.id, "operator:test")
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        creator = await creators.register(session, creators.Registration(email, "pw", "C"), 4)
        other = await creators.register(session, creators.Registration(f"o{email}", "pw", "O"), 4)
        proof = creators.AgentTokenProof(token(TokenKind.AGENT, seller.id))
        keys = creators.ClaimKeys.from_settings(settings)
        await creators.claim(session, keys, creator.id, str(seller.id), proof)
    await mint(sessions, creator.id, 10**9, owner_kind="creator")
    for outcome in (None, *(s for s in RedemptionStatus if s.final)):
        async with unit_of_work(sessions) as session:
            order = redemptions.Order("upi", 5_000_000, "INR", {"upi_id": "c@okaxis"})
            row, _ = await redemptions.open_redemption(
                session, uuid.uuid4(), creator.id, order, settings
            )
            await redemptions.approve(session, row.id, None)
            if outcome is None or outcome == RedemptionStatus.COMPLETED:
                await redemptions.complete(session, row.id, "simulated", "ref")
            else:
                await redemptions.refund(session, row.id, outcome, "test")
    async with unit_of_work(sessions) as session:
        await agents.deactivate(session, str(bystander.id), bystander.id)
    await ContentActivities(sessions).announce_decay()
    words = f"unsold {uuid.uuid4().hex}"  # searched by many, sold by nobody: a spike and a gap
    async with unit_of_work(sessions) as session:
        for n in range(241):
            signals.record(
                session, query=words, category=None, requester=f"agent:{n}", matched_count=0
            )
    await aggregate(sessions)
    return {
        "buyer": str(buyer.id),
        "seller": str(seller.id),
        "bystander": str(bystander.id),
        "creator": str(creator.id),
        "other_creator": str(other.id),
        "operator": str(uuid.uuid4()),
    }


async def test_every_event_reaches_exactly_who_may_see_it(
    sessions: Sessions, settings: Settings, tmp_path: Path
) -> None:
    assert set(TABLE) == set(EventType)
    async with unit_of_work(sessions) as session:
        start = await events.latest(session)
    cast = await _scenario(sessions, settings, tmp_path)
    async with unit_of_work(sessions) as session:
        written = await events.after(session, start, limit=10_000)
    kinds = {r: TokenKind.CREATOR if "creator" in r else TokenKind.AGENT for r in cast}
    kinds["operator"] = TokenKind.OPERATOR
    assert {e.type for e in written} == set(EventType) - {EventType.LEDGER_AUDIT_FAILED}
    for event in written:
        visibility, audience, keys = TABLE[EventType(event.type)]
        assert EventType(event.type).visibility is visibility, event.type
        expected = audience(event.payload, cast)
        assert set(event.audience) == expected, event.type
        for role, principal in cast.items():
            sees = events.visible_to(event.type, event.audience, kinds[role], principal)
            should = visibility is Visibility.PUBLIC or (
                visibility is not Visibility.INTERNAL
                and (role == "operator" or principal in expected)
            )
            assert sees == should, (event.type, role)
        data = envelope(event)["data"]
        assert set(data) <= keys and keys - set(data) <= {"deposit_id"}, event.type
        assert not any(key.endswith("_units") for key in data), event.type
