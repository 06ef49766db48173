"""Crash test: 200 events delivered to 5 webhook consumers while the worker process is SIGKILLed.

The API runs in this process (the real app over httpx), and so do the consumers (real HTTP on
loopback, verifying every delivery with the `standardwebhooks` library and accepting each
`webhook-id` once); the worker is its own OS process on a private Temporal namespace and
PostgreSQL database (crash_harness). Five agents each subscribe one consumer to
`listing_created`; a seller lists 200 items spread over several seconds while the worker is
killed KILLS times, each kill aimed at a moment when deliveries are in flight at the consumers
(which answer slowly, and two of which fail every event's first attempt). Afterwards every
consumer accepted each of the 200 events exactly once under one `webhook-id` (the event's id),
every signature verified, and every delivery is recorded as delivered.
Set CRASH_SEED to replay a run's random choices.
"""

import asyncio
import os
import random
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from models.webhooks import WebhookDelivery
from tests.api.helpers import register
from tests.api.test_webhooks import list_item, subscribe
from tests.webhook_consumer import Consumer
from tests.workflows.crash_harness import crash_rig, sigkill_at_random

EVENTS = 200
CONSUMERS = 5
FLAKY = 2  # consumers that fail the first attempt of every event
KILLS = 5
UPTIME_SECONDS = (5.0, 8.0)  # a worker lives this long (uniform), then dies at the next moment
AIM_SECONDS = 3.0  # (up to this long) when deliveries are in flight at the consumers
DOWNTIME_SECONDS = (0.0, 1.0)
LIST_SECONDS = 35.0  # the 200 listings are spread over this long (the kills last as long)
ANSWER_SECONDS = 0.05  # every delivery takes this long at a consumer: kills meet calls in flight
DELIVERED_WITHIN = 300.0


async def test_webhook_deliveries_survive_worker_sigkills(
    private_postgres_url: str, temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    async with AsyncExitStack() as stack:
        consumers = [
            await stack.enter_async_context(
                Consumer(fail_first=1 if n < FLAKY else 0, delay_seconds=ANSWER_SECONDS)
            )
            for n in range(CONSUMERS)
        ]
        rig = await stack.enter_async_context(
            crash_rig(
                private_postgres_url,
                temporal_dev,
                tmp_path,
                webhook_allowlist="127.0.0.1/32",
                webhook_retry_base_seconds=0.5,
                webhook_max_attempts=50,  # kills never cost an attempt; only answers do
            )
        )
        for consumer in consumers:
            await subscribe(rig.api, await register(rig.api), consumer)
        seller = await register(rig.api)
        rig.worker.start()

        async def listings() -> list[str]:
            made = []
            for n in range(EVENTS):
                made.append(await list_item(rig.api, seller, n))
                await asyncio.sleep(rng.uniform(0, 2 * LIST_SECONDS / EVENTS))
            return made

        async def deliveries_in_flight() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + AIM_SECONDS
            while not any(c.in_flight for c in consumers) and loop.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        began = asyncio.get_running_loop().time()
        listed, kills_mid_delivery = await asyncio.gather(
            listings(),
            sigkill_at_random(
                rig.worker,
                rng,
                KILLS,
                UPTIME_SECONDS,
                DOWNTIME_SECONDS,
                lambda: sum(c.in_flight for c in consumers),
                deliveries_in_flight,
            ),
        )
        context = f"seed {seed}; worker log:\n{rig.worker.tail()}"

        async def statuses() -> Counter[str]:
            async with rig.sessions() as session:
                return Counter((await session.scalars(select(WebhookDelivery.status))).all())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + DELIVERED_WITHIN
        # an answer lost with a killed worker is recorded when its delivery is sent again
        while loop.time() < deadline and (
            any(len(c.accepted) < EVENTS for c in consumers) or (await statuses())["pending"]
        ):
            rig.worker.check()
            await asyncio.sleep(0.5)
        settled = loop.time() - began

        for consumer in consumers:
            assert not consumer.refused, context  # every signature verified
            got = Counter(r.body["data"]["listing_id"] for r in consumer.accepted.values())
            assert set(got) == set(listed) and set(got.values()) == {1}, context
            assert all(r.webhook_id == r.body["id"] for r in consumer.accepted.values())
        ids_per_event = {r.body["id"] for consumer in consumers for r in consumer.accepted.values()}
        assert len(ids_per_event) == EVENTS  # one webhook-id per event, at every consumer
        assert await statuses() == {"delivered": EVENTS * CONSUMERS}
        assert len(kills_mid_delivery) == KILLS
        assert sum(1 for n in kills_mid_delivery if n > 0) >= KILLS // 2, kills_mid_delivery
        assert rig.worker.unexpected_exits == [], context
        redelivered = sum(sum(c.redelivered.values()) for c in consumers)
        print(
            f"\nwebhook crash test: seed {seed}; {EVENTS} events x {CONSUMERS} consumers "
            f"delivered after {settled:.0f}s; {KILLS} SIGKILLs with {kills_mid_delivery} "
            f"deliveries in flight; {redelivered} redeliveries of an accepted webhook-id"
        )
