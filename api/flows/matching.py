"""Auto-match as the API drives it: find the best listings for a description, and with
`auto_buy` buy the chosen one through `purchases.express_buy`, the one express purchase (one
workflow, one charge; the same `Idempotency-Key` answers the same purchase)."""

import uuid
from dataclasses import dataclass

from api.flows import purchases as purchase_flow
from api.state import AppState
from core.db import read_only, unit_of_work
from domain import matching, purchases, routing
from domain.demand import signals
from domain.matching import Match


@dataclass(frozen=True)
class Buying:
    max_price_units: int = matching.AUTO_BUY_MAX_UNITS
    strategy: routing.Strategy | None = None
    buyer_region: str | None = None


@dataclass(frozen=True)
class AutoMatched:
    matches: list[Match]
    receipt: purchase_flow.ExpressReceipt | None = None
    skipped: str | None = None


def candidate(match: Match) -> routing.Candidate:
    region = match.listing.details.get("region")
    return routing.Candidate(
        id=str(match.listing.id),
        price_units=match.listing.price_units,
        quality=match.listing.quality_score,
        avg_response_ms=match.avg_response_ms,
        region=region if isinstance(region, str) else None,
    )


async def auto_match(
    app: AppState,
    buyer: uuid.UUID,
    wanted: matching.Wanted,
    buying: Buying | None,
    idempotency_key: str | None,
) -> AutoMatched:
    """The matches, and with `buying` the purchase (or why there was none). Every request ends
    at the one `return`, with what was asked, found and bought in hand."""
    async with read_only(app.sessions) as session:
        found = await matching.find(session, buyer, wanted)
    done = AutoMatched(found)
    if buying is not None:
        done = await _auto_buy(app, buyer, found, buying, idempotency_key)
    async with unit_of_work(app.sessions) as session:
        signals.record(
            session,
            query=wanted.description,
            category=wanted.category,
            requester=signals.agent_requester(buyer),
            matched_count=len(found),
            max_price_units=wanted.max_price_units,
            source="auto_match",
        )
    return done


async def _auto_buy(
    app: AppState,
    buyer: uuid.UUID,
    found: list[Match],
    buying: Buying,
    idempotency_key: str | None,
) -> AutoMatched:
    key = f"auto-match:{idempotency_key}" if idempotency_key else None
    listing_id = await _bought_before(app, buyer, key) or await _choose(app, found, buying)
    if listing_id is None:
        return AutoMatched(found, skipped="no match is priced within the limit with score ≥ 0.3")
    receipt = await purchase_flow.express_buy(app, buyer, listing_id, key)
    return AutoMatched(found, receipt)


async def _bought_before(app: AppState, buyer: uuid.UUID, key: str | None) -> str | None:
    """The listing this Idempotency-Key already bought: a retry buys it again (a replay), even
    if the matches have moved since."""
    if key is None:
        return None
    async with read_only(app.sessions) as session:
        try:
            tx = await purchases.get(session, purchase_flow.purchase_id(buyer, key))
        except purchases.TransactionNotFound:
            return None
    return str(tx.listing_id) if tx.buyer_id == buyer else None


async def _choose(app: AppState, found: list[Match], buying: Buying) -> str | None:
    eligible = [
        m
        for m in found
        if m.listing.price_units <= buying.max_price_units
        and m.score >= matching.AUTO_BUY_MIN_SCORE
    ]
    if not eligible:
        return None
    if buying.strategy is None:
        return str(eligible[0].listing.id)
    candidates = [candidate(m) for m in eligible]
    position = 0
    if buying.strategy is routing.Strategy.ROUND_ROBIN:
        async with unit_of_work(app.sessions) as session:
            position = await routing.next_turn(session, routing.ring_key(candidates))
    routed = routing.rank(
        buying.strategy, candidates, buyer_region=buying.buyer_region, position=position
    )
    return routed.ranked[0].id
