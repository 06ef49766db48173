"""Auto-match (the best listings for a description, optionally bought at once) and routing
(which of several offers to take, by one of seven strategies)."""

import random
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api.deps import IDEMPOTENCY_KEY, AgentId, Session, State
from api.flows import matching as flow
from api.routes import API_PREFIX
from api.routes.purchases import express_result
from api.schemas.matching import (
    AutoMatchRequest,
    AutoMatchResult,
    MatchOut,
    RoutedCandidate,
    RouteRequest,
    RouteResult,
    Strategies,
    StrategyOut,
)
from api.state import AppState
from core.errors import RuleViolation
from domain import matching, routing

router = APIRouter(prefix=API_PREFIX, tags=["matching"])


def _match(match: matching.Match) -> MatchOut:
    listing = match.listing
    return MatchOut(
        listing_id=listing.id,
        title=listing.title,
        category=listing.category,
        seller_id=listing.seller_id,
        price_usdc=listing.price_units,
        quality_score=listing.quality_score,
        freshness_at=listing.freshness_at,
        match_score=match.score,
        estimated_fresh_cost=match.fresh_cost_units,
        savings_usdc=match.savings_units,
        savings_percent=match.savings_percent,
        avg_response_ms=match.avg_response_ms,
        region=flow.candidate(match).region,
    )


@router.post("/agents/auto-match", response_model=AutoMatchResult)
async def auto_match(
    body: AutoMatchRequest,
    buyer: AgentId,
    state: State,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=128, pattern=IDEMPOTENCY_KEY)
    ] = None,
) -> AutoMatchResult:
    """Up to 5 matches, best first, own listings skipped, each with its savings against the
    category's fresh-cost estimate. With `auto_buy`, the chosen match is bought as
    `POST /express/{listing_id}` buys (402 without the credits)."""
    answer, replayed = await auto_match_result(state, buyer, body, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


async def auto_match_result(
    state: AppState, buyer: uuid.UUID, body: AutoMatchRequest, idempotency_key: str | None
) -> tuple[AutoMatchResult, bool]:
    """The matches (and the auto-buy) for `body`, and whether the purchase was a replay (REST
    and the MCP tool)."""
    started = time.perf_counter()
    wanted = matching.Wanted(body.description, body.category, body.max_price)
    buying = None
    if body.auto_buy:
        buying = flow.Buying(
            body.auto_buy_max_price or matching.AUTO_BUY_MAX_UNITS,
            body.routing_strategy,
            body.buyer_region,
        )
    done = await flow.auto_match(state, buyer, wanted, buying, idempotency_key)
    elapsed = int((time.perf_counter() - started) * 1000)
    answer = AutoMatchResult(
        description=body.description,
        category=body.category,
        matches=[_match(m) for m in done.matches],
        routing_strategy=body.routing_strategy,
        auto_bought=done.receipt is not None,
        purchase=express_result(done.receipt, elapsed) if done.receipt else None,
        auto_buy_skipped=done.skipped,
    )
    return answer, done.receipt is not None and done.receipt.replayed


class DuplicateCandidate(RuleViolation):
    code = "duplicate_candidate"


@router.post("/route/select", response_model=RouteResult)
async def select(body: RouteRequest, session: Session) -> RouteResult:
    """The candidates ranked by the strategy; `selected` is the first."""
    candidates = [
        routing.Candidate(c.id, c.price_usdc, c.quality_score, c.avg_response_ms, c.region)
        for c in body.candidates
    ]
    if len({c.id for c in candidates}) != len(candidates):
        raise DuplicateCandidate("Each candidate needs its own id")
    position = 0
    if body.strategy is routing.Strategy.ROUND_ROBIN:
        position = await routing.next_turn(session, routing.ring_key(candidates))
    routed = routing.rank(
        body.strategy,
        candidates,
        buyer_region=body.buyer_region,
        position=position,
        draw=random.SystemRandom(),
    )
    ranked = [
        RoutedCandidate(
            id=c.id,
            price_usdc=c.price_units,
            quality_score=c.quality,
            avg_response_ms=c.avg_response_ms,
            region=c.region,
            proximity=routed.scores.get(c.id),
        )
        for c in routed.ranked
    ]
    return RouteResult(strategy=body.strategy, selected=ranked[0], ranked=ranked)


@router.get("/route/strategies", response_model=Strategies)
async def strategies() -> Strategies:
    return Strategies(
        strategies=[
            StrategyOut(name=s, description=routing.DESCRIPTIONS[s]) for s in routing.Strategy
        ],
        regions={region: sorted(near) for region, near in routing.REGIONS.items()},
        proximity={
            "same": routing.SAME,
            "adjacent": routing.ADJACENT,
            "elsewhere": routing.ELSEWHERE,
        },
    )
