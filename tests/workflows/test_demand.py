"""Demand aggregation on real Temporal servers and both databases: figures equal hand-computed
ones for a fixture of signals, a second run with nothing new changes nothing, one client's 500
searches make no gap, a spike is announced once per crossing, opportunities expire after 24 h,
and the `demand-aggregation` schedule runs."""

import asyncio
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from core.clock import utcnow
from core.db import unit_of_work
from core.settings import Settings
from domain import listings
from domain.content.store import open_store
from domain.events import EventType
from domain.listings.discovery import pattern_of
from models.agents import RegisteredAgent
from models.demand import Demand, DemandHour, DemandOpportunity, DemandRequester, DemandRun
from models.events import Event
from models.listings import SearchSignal
from tests.conftest import StartWorker
from worker import schedules
from worker.cli import migrate
from workflows.contracts.demand import DemandReport, DemandTerms
from workflows.demand import DemandAggregationWorkflow

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the test's own (demand figures are marketplace-wide), on each engine."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("private_postgres_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'demand.db'}"
    migrate(url)
    return url


async def aggregate(client: Client, settings: Settings) -> DemandReport:
    return await client.execute_workflow(
        DemandAggregationWorkflow.run,
        DemandTerms(settle_seconds=0),
        id=f"demand-test-{uuid.uuid4().hex[:8]}",
        task_queue=settings.temporal_task_queue,
    )


def signal(
    query: str,
    requester: str,
    at: datetime,
    *,
    matched: int = 0,
    max_price: int | None = None,
    category: str | None = "code_analysis",
    converted: datetime | None = None,
) -> SearchSignal:
    return SearchSignal(
        query=query,
        pattern=pattern_of(query),
        category=category,
        requester=requester,
        matched_count=matched,
        max_price_units=max_price,
        source="discover",
        led_to_purchase=converted is not None,
        converted_at=converted,
        created_at=at,
    )


async def seed(sessions: Sessions, rows: list[SearchSignal]) -> None:
    async with unit_of_work(sessions) as session:
        session.add_all(rows)


async def snapshot(sessions: Sessions) -> dict[str, Any]:
    """Everything the aggregation writes."""
    async with unit_of_work(sessions) as session:

        async def rows(model: Any, *order: Any) -> list[tuple[Any, ...]]:
            columns = [c for c in model.__table__.c]
            found = await session.execute(select(*columns).order_by(*order))
            return [tuple(r) for r in found]

        return {
            "demand": await rows(Demand, Demand.pattern),
            "hours": await rows(DemandHour, DemandHour.pattern, DemandHour.hour),
            "requesters": await rows(
                DemandRequester, DemandRequester.pattern, DemandRequester.requester
            ),
            "opportunities": await rows(DemandOpportunity, DemandOpportunity.pattern),
            "events": await session.scalar(select(func.count(Event.sequence))),
        }


async def demand_of(sessions: Sessions, pattern: str) -> Demand | None:
    async with unit_of_work(sessions) as session:
        return await session.get(Demand, pattern)


async def events_of(sessions: Sessions, kind: EventType) -> list[dict[str, Any]]:
    async with unit_of_work(sessions) as session:
        found = await session.scalars(
            select(Event).where(Event.type == kind).order_by(Event.sequence)
        )
        return [e.payload for e in found]


async def rust_listing(sessions: Sessions, settings: Settings) -> None:
    """One active listing matching "rust parser": the competition of that gap."""
    async with unit_of_work(sessions) as session:
        seller = RegisteredAgent(name=f"seller-{uuid.uuid4().hex[:6]}", agent_type="seller")
        session.add(seller)
        await session.flush()
        draft = listings.Draft(
            title="Rust parser benchmarks",
            category="code_analysis",
            content=b"rust parser results",
            content_type="text/plain",
            price_units=5_000,
        )
        await listings.publish(session, open_store(settings.content_store_path), seller.id, [draft])


def fixture_signals(now: datetime) -> list[SearchSignal]:
    ago = [now - timedelta(minutes=m) for m in range(1, 60)]
    return [
        # "parser rust": 6 searches by 4 requesters, 1 with matches, prices 0.01 and 0.02,
        # one led to a purchase.
        signal("Rust parser", "agent:a", ago[1], max_price=10_000),
        signal("parser RUST rust", "agent:a", ago[2], max_price=20_000),
        signal("rust, parser!", "agent:a", ago[3], converted=ago[0]),
        signal("rust parser", "agent:b", ago[4], matched=2),
        signal("rust parser", "client:10.0.0.7", ago[5]),
        signal("rust parser", "client:10.0.0.8", ago[6]),
        # "go lint": 3 searches by 3 requesters, none with matches, no price given.
        *(signal("go lint", f"agent:g{i}", ago[10 + i]) for i in range(3)),
        # "python": 10 searches by 10 requesters, all with matches: demand, no gap.
        *(signal("python", f"agent:p{i}", ago[20 + i], matched=5) for i in range(10)),
        # one anonymous client searching 500 times for something nobody sells.
        *(
            signal("spam words", "client:203.0.113.9", ago[30] + timedelta(microseconds=i))
            for i in range(500)
        ),
        # a browse without words is no demand for anything
        signal("", "agent:a", ago[40]),
    ]


def q(value: str | Decimal) -> Decimal:
    """To the 4 decimals the figures keep (half up)."""
    return Decimal(value).quantize(Decimal("0.0001"), ROUND_HALF_UP)


async def test_figures_equal_hand_computed_ones_and_a_second_run_changes_nothing(
    settings: Settings,
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    await start_worker(temporal_dev.client)
    await rust_listing(sessions, settings)
    await seed(sessions, fixture_signals(utcnow()))
    report = await aggregate(temporal_dev.client, settings)
    assert report.signals == 519  # the browse without words is not read

    rust = await demand_of(sessions, "parser rust")
    assert rust is not None
    assert (rust.searches, rust.fulfilled, rust.purchases, rust.requesters) == (6, 1, 1, 4)
    assert rust.velocity == q("0.25")  # 6 / 24
    assert rust.fulfillment_rate == q("0.1667")  # 1 / 6
    assert rust.conversion_rate == q("0.1667")
    assert rust.avg_max_price_units == 15_000  # (10,000 + 20,000) / 2
    assert rust.is_gap and rust.category == "code_analysis"
    go = await demand_of(sessions, "go lint")
    assert go is not None
    assert (go.searches, go.requesters, go.velocity, go.fulfillment_rate) == (3, 3, q("0.125"), 0)
    assert go.avg_max_price_units == 5_000 and go.is_gap  # no max price given: 0.005
    python = await demand_of(sessions, "python")
    assert python is not None and python.fulfillment_rate == 1 and not python.is_gap
    spam = await demand_of(sessions, "spam words")
    assert spam is not None and spam.requesters == 1 and spam.searches == 500
    assert not spam.is_gap  # one client, however many searches, makes no gap
    assert await demand_of(sessions, "") is None

    async with unit_of_work(sessions) as session:
        found = {o.pattern: o for o in await session.scalars(select(DemandOpportunity))}
    assert set(found) == {"parser rust", "go lint"}  # spam words made no opportunity
    # urgency = 0.4 v/max_v + 0.3 (1 - fulfillment) + 0.3 uniq/max_uniq; max_v 0.25, max_uniq 4
    assert found["parser rust"].urgency == q(
        q("0.4") * 1 + q("0.3") * (1 - q("0.1667")) + q("0.3") * 1
    )
    go_urgency = q(q("0.4") * q("0.5") + q("0.3") * 1 + q("0.3") * q("0.75"))
    assert found["go lint"].urgency == go_urgency
    assert found["parser rust"].estimated_revenue_units == 3_750  # 0.25 x 15,000
    assert found["go lint"].estimated_revenue_units == 625  # 0.125 x 5,000
    assert found["parser rust"].competing_listings == 1 and found["go lint"].competing_listings == 0
    created = await events_of(sessions, EventType.OPPORTUNITY_CREATED)
    assert sorted(e["pattern"] for e in created) == ["go lint", "parser rust"]  # both above 0.7
    spikes = await events_of(sessions, EventType.DEMAND_SPIKE)
    assert [e["pattern"] for e in spikes] == ["spam words"]  # 500 / 24 = 20.8 > 10

    before = await snapshot(sessions)
    again = await aggregate(temporal_dev.client, settings)
    assert again.signals == 0 and again.patterns == 0
    assert await snapshot(sessions) == before


async def test_new_signals_fold_in_and_a_spike_is_announced_once(
    settings: Settings,
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    await start_worker(temporal_dev.client)
    now = utcnow() - timedelta(minutes=5)
    await seed(
        sessions,
        [signal("hot topic", f"agent:h{i}", now + timedelta(microseconds=i)) for i in range(241)],
    )
    await aggregate(temporal_dev.client, settings)
    await seed(sessions, [signal("hot topic", "agent:late", utcnow(), matched=1)])
    await aggregate(temporal_dev.client, settings)
    hot = await demand_of(sessions, "hot topic")
    assert hot is not None and (hot.searches, hot.requesters, hot.fulfilled) == (242, 242, 1)
    assert [e["pattern"] for e in await events_of(sessions, EventType.DEMAND_SPIKE)] == [
        "hot topic"
    ]


async def test_a_purchase_after_an_aggregated_search_converts_it(
    settings: Settings,
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    await start_worker(temporal_dev.client)
    searched = utcnow() - timedelta(minutes=2)
    row = signal("late buyer", "agent:x", searched)
    await seed(sessions, [row])
    await aggregate(temporal_dev.client, settings)
    async with unit_of_work(sessions) as session:
        stored = await session.get(SearchSignal, row.id)
        assert stored is not None
        stored.led_to_purchase, stored.converted_at = True, utcnow()
    await aggregate(temporal_dev.client, settings)
    late = await demand_of(sessions, "buyer late")
    assert late is not None and late.purchases == 1 and late.conversion_rate == 1


async def test_windows_slide_opportunities_expire_and_spikes_fire_per_crossing(
    settings: Settings,
    sessions: Sessions,
    temporal_time_skipping: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    env = temporal_time_skipping
    await start_worker(env.client)

    async def server_now() -> datetime:
        return await env.get_current_time()

    start = await server_now()
    await seed(sessions, fixture_signals(start))
    await aggregate(env.client, settings)
    async with unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(DemandOpportunity)) == 2

    await env.sleep(timedelta(hours=25))
    await aggregate(env.client, settings)
    async with unit_of_work(sessions) as session:
        assert await session.scalar(select(func.count()).select_from(DemandOpportunity)) == 0
        assert await session.scalar(select(func.count()).select_from(Demand)) == 0

    later = await server_now()  # after the last run's end: these are new to the next one
    await seed(
        sessions,
        [
            signal("spam words", f"agent:s{i}", later + timedelta(seconds=1, microseconds=i))
            for i in range(250)
        ],
    )
    await env.sleep(timedelta(minutes=1))
    await aggregate(env.client, settings)
    spikes = await events_of(sessions, EventType.DEMAND_SPIKE)
    assert [e["pattern"] for e in spikes] == ["spam words", "spam words"]  # crossed twice
    spam = await demand_of(sessions, "spam words")
    assert spam is not None and spam.requesters == 250 and spam.searches == 250


async def test_the_schedule_runs(
    settings: Settings,
    sessions: Sessions,
    temporal_dev: WorkflowEnvironment,
    start_worker: StartWorker,
) -> None:
    await start_worker(temporal_dev.client)
    await seed(
        sessions,
        [
            signal("scheduled words", f"agent:{i}", utcnow() - timedelta(minutes=1))
            for i in range(3)
        ],
    )
    await schedules.ensure(temporal_dev.client, settings)
    handle = temporal_dev.client.get_schedule_handle("demand-aggregation")
    try:
        # The dev server's schedules outlive the tests that made them: a run an earlier test's
        # schedule started on a queue nobody polls any more would make a skipping trigger skip.
        await handle.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
        for _ in range(300):
            found = await demand_of(sessions, "scheduled words")
            async with unit_of_work(sessions) as session:
                run = await session.get(DemandRun, 1)
            if found is not None and run is not None and run.until is None:
                break
            await asyncio.sleep(0.1)
        assert found is not None and found.searches == 3 and found.requesters == 3
    finally:
        await handle.delete()
