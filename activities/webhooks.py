"""Webhook delivery steps (ADR 0023): following the outbox, and draining one endpoint's queue.

Both run for a while and heartbeat, so a killed worker's step is retried after the heartbeat
timeout. Secrets are read here, by endpoint id, and never leave this process.
"""

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import certifi
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities import implements
from core.db import unit_of_work
from core.settings import Settings
from core.vault import Vault, vault_of
from domain.webhooks import delivery, dispatch, guard
from workflows.contracts import housekeeping
from workflows.contracts import webhooks as contract
from workflows.contracts.housekeeping import PurgeResult
from workflows.contracts.webhooks import Drained

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1  # how often the outbox is read
IDLE_POLL_SECONDS = 0.5  # how often an empty queue is read again (unless its bell rings first)
DRAIN_SECONDS = 30  # a drain returns after this long, so its workflow records progress
LINGER_SECONDS = 3.0  # an emptied queue is watched this long before its workflow may end
SWEEP_SECONDS = 60  # how often the dispatcher wakes endpoints left with pending deliveries
BATCH = 64  # deliveries read, sent and recorded together
CONCURRENCY = 8  # deliveries in flight per endpoint (more makes the connection pool costly)
HEARTBEAT_SECONDS = 2.0


@dataclass
class WebhookActivities:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    tls: ssl.SSLContext = field(
        default_factory=lambda: ssl.create_default_context(cafile=certifi.where())
    )

    def __post_init__(self) -> None:
        self.vault: Vault = vault_of(self.settings)
        self.allowlist = guard.Allowlist.parse(self.settings.webhook_allowlist)
        self.bells = Doorbells()

    @implements(contract.FOLLOW_OUTBOX)
    async def follow_outbox(self, seconds: int) -> None:
        """Queue deliveries for new events until `seconds` have passed. First, and then every
        SWEEP_SECONDS, wake every endpoint left with pending deliveries: its wake-up may have
        died with a worker (a wake-up too many costs one more drain)."""
        client, queue = activity.client(), activity.info().task_queue
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        sweep_at = loop.time()
        async with _heartbeating():
            while loop.time() < deadline and not activity.is_worker_shutdown():
                if loop.time() >= sweep_at:
                    async with unit_of_work(self.sessions) as session:
                        await contract.wake(client, queue, await dispatch.stranded(session))
                    sweep_at += SWEEP_SECONDS
                async with unit_of_work(self.sessions) as session:
                    done = await dispatch.advance(session)
                self.bells.ring(done.queued_for)
                await contract.wake(client, queue, done.woken)
                if done.read < dispatch.BATCH:
                    await asyncio.sleep(POLL_SECONDS)

    @implements(housekeeping.PURGE_WEBHOOK_DELIVERIES)
    async def purge_deliveries(self, now: datetime) -> PurgeResult:
        retention = timedelta(days=self.settings.webhook_delivery_retention_days)
        async with unit_of_work(self.sessions) as session:
            purged = await delivery.purge_finished_before(session, now - retention)
        return PurgeResult(purged=purged)

    @implements(contract.DRAIN)
    async def drain(self, endpoint_id: uuid.UUID) -> Drained:
        async with unit_of_work(self.sessions) as session:
            endpoint = await delivery.load(session, self.vault, self.settings, endpoint_id)
        if endpoint is not None:
            async with _heartbeating(), self._client(endpoint) as client:
                with self.bells.hung(endpoint_id):
                    await self._deliver(client, endpoint)
        async with unit_of_work(self.sessions) as session:
            return await delivery.settle(session, endpoint_id)

    async def _deliver(self, client: httpx.AsyncClient, endpoint: delivery.Endpoint) -> None:
        """Send due deliveries, BATCH at a time (CONCURRENCY in flight), recording each batch
        in one transaction, until the queue has stayed empty for LINGER_SECONDS, the endpoint
        is paused, or DRAIN_SECONDS have passed."""
        loop = asyncio.get_running_loop()
        deadline = idle_since = loop.time()
        deadline += DRAIN_SECONDS
        target: guard.Target | guard.UrlNotAllowed | None = None
        slots = asyncio.Semaphore(CONCURRENCY)

        async def attempt(due: delivery.Due) -> tuple[delivery.Due, delivery.Outcome]:
            if isinstance(target, guard.UrlNotAllowed):
                return due, delivery.refused(target)
            assert target is not None
            async with slots:
                return due, await delivery.send(client, target, endpoint, due)

        failing = endpoint.failing
        while loop.time() < deadline and not activity.is_worker_shutdown():
            self.bells.silence(endpoint.id)
            async with unit_of_work(self.sessions) as session:
                batch = await delivery.due(session, endpoint.id, BATCH)
            if batch:
                if target is None:  # vetted on every drain: what a name resolves to changes
                    target = await self._vet(endpoint.url)
                outcomes = await asyncio.gather(*(attempt(due) for due in batch))
                async with unit_of_work(self.sessions) as session:
                    paused = await delivery.record(
                        session,
                        endpoint.id,
                        outcomes,
                        endpoint.rules,
                        self.settings.webhook_retry_base_seconds,
                        failing,
                    )
                if paused:
                    log.warning(
                        "webhook endpoint paused",
                        extra={"endpoint": str(endpoint.id), "reason": paused},
                    )
                    return
                failing = any(not outcome.ok for _, outcome in outcomes)
                idle_since = loop.time()
                if len(batch) == BATCH:
                    continue  # more may be due at once
            idle = loop.time() - idle_since
            if idle >= LINGER_SECONDS:
                return
            # until the dispatcher rings (at once if it did since the read), or a retry is due
            await self.bells.wait(endpoint.id, min(IDLE_POLL_SECONDS, LINGER_SECONDS - idle))

    async def _vet(self, url: str) -> guard.Target | guard.UrlNotAllowed:
        try:
            return await guard.vet(url, self.allowlist)
        except guard.UrlNotAllowed as refusal:
            return refusal

    def _client(self, endpoint: delivery.Endpoint) -> httpx.AsyncClient:
        """One client (one connection pool) per endpoint and drain: a TLS connection made for one
        name is never reused for another behind the same address. No proxies from the
        environment, no redirects."""
        return httpx.AsyncClient(
            verify=self.tls,
            trust_env=False,
            follow_redirects=False,
            timeout=endpoint.rules.timeout_seconds,
            limits=httpx.Limits(max_connections=CONCURRENCY),
        )


class Doorbells:
    """Wake-ups within one worker process: the dispatcher rings an endpoint's bell once it has
    committed deliveries for it, and a drain in the same process, waiting on its empty queue,
    reads it at once; a drain in another process reads it within IDLE_POLL_SECONDS."""

    def __init__(self) -> None:
        self._bells: dict[uuid.UUID, asyncio.Event] = {}

    @contextlib.contextmanager
    def hung(self, endpoint_id: uuid.UUID) -> Iterator[None]:
        self._bells[endpoint_id] = asyncio.Event()
        try:
            yield
        finally:
            self._bells.pop(endpoint_id, None)

    def ring(self, endpoint_ids: Iterable[uuid.UUID]) -> None:
        for endpoint_id in endpoint_ids:
            if (bell := self._bells.get(endpoint_id)) is not None:
                bell.set()

    def silence(self, endpoint_id: uuid.UUID) -> None:
        """Before the queue is read: a ring after this is not missed."""
        if (bell := self._bells.get(endpoint_id)) is not None:
            bell.clear()

    async def wait(self, endpoint_id: uuid.UUID, seconds: float) -> None:
        bell = self._bells.get(endpoint_id)
        if bell is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await bell.wait()


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
