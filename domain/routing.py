"""Routing: which of several sellers' offers to take, by one of seven strategies (rules.md).

Each strategy ranks the candidates; the first is the one taken.
- cheapest: lowest price (then higher quality).
- fastest: lowest average response time; one without a record goes last (then lower price).
- highest_quality: highest quality (then lower price).
- best_value: most quality per unit of price (then higher quality).
- round_robin: the candidates in id order, starting one further each time the same set is
  routed (the position is kept in the database, so every API process shares it).
- weighted_random: drawn with probability proportional to quality (0 is never drawn, unless
  every candidate has 0: then uniformly).
- locality: closest to the buyer's region: same 1.0, adjacent 0.5, else 0.2 (then best value).
"""

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.catalog import RouteCursor


class Strategy(StrEnum):
    CHEAPEST = "cheapest"
    FASTEST = "fastest"
    HIGHEST_QUALITY = "highest_quality"
    BEST_VALUE = "best_value"
    ROUND_ROBIN = "round_robin"
    WEIGHTED_RANDOM = "weighted_random"
    LOCALITY = "locality"


DESCRIPTIONS: dict[Strategy, str] = {
    Strategy.CHEAPEST: "lowest price first; ties: higher quality",
    Strategy.FASTEST: "lowest average response time first; unknown last; ties: lower price",
    Strategy.HIGHEST_QUALITY: "highest quality first; ties: lower price",
    Strategy.BEST_VALUE: "most quality per unit of price first; ties: higher quality",
    Strategy.ROUND_ROBIN: "each call on the same candidates starts one further, in id order",
    Strategy.WEIGHTED_RANDOM: "drawn with probability proportional to quality",
    Strategy.LOCALITY: "same region 1.0, adjacent 0.5, else 0.2; ties: best value",
}

# Which regions neighbour which (symmetric).
REGIONS: dict[str, frozenset[str]] = {
    "us-east": frozenset({"us-west", "ca-central", "sa-east", "eu-west"}),
    "us-west": frozenset({"us-east", "ca-central", "ap-northeast"}),
    "ca-central": frozenset({"us-east", "us-west"}),
    "sa-east": frozenset({"us-east"}),
    "eu-west": frozenset({"eu-central", "us-east", "af-south"}),
    "eu-central": frozenset({"eu-west", "me-central", "ap-south"}),
    "me-central": frozenset({"eu-central", "ap-south", "af-south"}),
    "af-south": frozenset({"eu-west", "me-central"}),
    "ap-south": frozenset({"me-central", "eu-central", "ap-southeast"}),
    "ap-southeast": frozenset({"ap-south", "ap-northeast", "au-east"}),
    "ap-northeast": frozenset({"ap-southeast", "us-west"}),
    "au-east": frozenset({"ap-southeast"}),
}
SAME, ADJACENT, ELSEWHERE = Decimal("1.0"), Decimal("0.5"), Decimal("0.2")


def proximity(buyer: str | None, seller: str | None) -> Decimal:
    if buyer is None or seller is None:
        return ELSEWHERE
    if buyer == seller:
        return SAME
    return ADJACENT if seller in REGIONS.get(buyer, frozenset()) else ELSEWHERE


@dataclass(frozen=True)
class Candidate:
    id: str
    price_units: int
    quality: Decimal
    avg_response_ms: int | None = None
    region: str | None = None


def _value(c: Candidate) -> Decimal:
    return c.quality / c.price_units if c.price_units > 0 else c.quality * 10**12


_RANKS: dict[Strategy, Callable[[Candidate], tuple[object, ...]]] = {
    Strategy.CHEAPEST: lambda c: (c.price_units, -c.quality, c.id),
    Strategy.FASTEST: lambda c: (
        c.avg_response_ms is None,
        c.avg_response_ms or 0,
        c.price_units,
        c.id,
    ),
    Strategy.HIGHEST_QUALITY: lambda c: (-c.quality, c.price_units, c.id),
    Strategy.BEST_VALUE: lambda c: (-_value(c), -c.quality, c.id),
}


@dataclass(frozen=True)
class Routed:
    ranked: list[Candidate]
    scores: dict[str, Decimal]  # locality's proximity, when that is the strategy


def rank(
    strategy: Strategy,
    candidates: Sequence[Candidate],
    *,
    buyer_region: str | None = None,
    position: int = 0,
    draw: random.Random | None = None,
) -> Routed:
    """The candidates in the order the strategy takes them. `position`: round-robin's turn;
    `draw`: weighted-random's source of randomness."""
    if strategy in _RANKS:
        return Routed(sorted(candidates, key=_RANKS[strategy]), {})
    if strategy is Strategy.LOCALITY:
        scores = {c.id: proximity(buyer_region, c.region) for c in candidates}
        ordered = sorted(candidates, key=lambda c: (-scores[c.id], -_value(c), -c.quality, c.id))
        return Routed(ordered, scores)
    by_id = sorted(candidates, key=lambda c: c.id)
    if strategy is Strategy.ROUND_ROBIN:
        turn = position % len(by_id)
        return Routed(by_id[turn:] + by_id[:turn], {})
    chooser = draw or random.SystemRandom()
    weights = [float(c.quality) for c in by_id]
    if not any(weights):
        weights = [1.0] * len(by_id)
    [first] = chooser.choices(by_id, weights=weights)
    return Routed([first, *(c for c in by_id if c is not first)], {})


def ring_key(candidates: Sequence[Candidate]) -> str:
    """The round-robin ring a set of candidates forms (the same set, in any order, is the same
    ring)."""
    joined = "\n".join(sorted(c.id for c in candidates))
    return hashlib.sha256(joined.encode()).hexdigest()


async def next_turn(session: AsyncSession, key: str) -> int:
    """This call's turn on the ring (0 the first time), taken atomically: concurrent calls on
    any process get consecutive turns."""
    taken = await session.scalar(
        update(RouteCursor)
        .where(RouteCursor.key == key)
        .values(position=RouteCursor.position + 1)
        .returning(RouteCursor.position)
    )
    if taken is not None:
        return int(taken) - 1
    try:
        async with session.begin_nested():
            session.add(RouteCursor(key=key, position=1))
        return 0
    except IntegrityError:  # another call made the ring first: take the next turn
        return await next_turn(session, key)
