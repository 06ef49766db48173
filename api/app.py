"""The FastAPI application factory (the deployed process adds its purchase worker:
`uvicorn worker.api_process:create_app --factory`)."""

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import errors, mcp, metrics, openapi, outbox
from api.feed import Feed
from api.limits import RequestLimits
from api.middleware import RequestIdMiddleware
from api.page_cache import PageCache
from api.rate_limits import RateLimitMiddleware
from api.routes import (
    API_PREFIX,
    agents,
    analytics,
    audit,
    catalog,
    creators,
    discovery,
    feed,
    health,
    listings,
    matching,
    openclaw,
    operators,
    proofs,
    purchases,
    redemptions,
    reputation,
    seller,
    wallet,
    webhooks,
)
from api.state import AppState
from core.db import create_engine, session_factory
from core.logging import configure_logging
from core.metrics import process_exited
from core.rate_limits import Limiter
from core.settings import Settings, get_settings
from core.temporal import connect
from domain.content.cdn import ContentDelivery
from domain.content.store import open_store
from domain.events import EventType
from domain.wallet.transfers import Transfers

log = logging.getLogger(__name__)


Alongside = Callable[[AppState], AbstractAsyncContextManager[None]]


def create_app(settings: Settings | None = None, *, alongside: Sequence[Alongside] = ()) -> FastAPI:
    """The API. `alongside`: what else runs for the process's lifetime, given its state (the
    deployed API process runs a purchase worker: `worker/api_process.py`)."""
    settings = settings or get_settings()
    limiter = Limiter(settings.rate_limit_storage_url, key_prefix=settings.rate_limit_key_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        if settings.api_processes > 1 and not limiter.shared:
            log.warning(
                "API_PROCESSES > 1 without RATE_LIMIT_STORAGE_URL: each process keeps its own "
                "rate limits, so a client gets up to API_PROCESSES times the limit"
            )
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        # Lazy: the API starts (and reports `degraded`) while Temporal is still coming up.
        temporal = await connect(settings.temporal_address, settings.temporal_namespace, lazy=True)
        content = open_store(
            settings.content_store_path,
            settings.azure_storage_connection_string,
            settings.azure_storage_container,
        )
        delivery = ContentDelivery(
            content, Path(settings.cdn_warm_path), settings.cdn_hot_cache_max_bytes
        )
        sessions = session_factory(engine)
        live_feed = Feed(sessions, settings.feed_client_queue_size, settings.event_retention_days)
        app.state.services = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            content=content,
            delivery=delivery,
            temporal=temporal,
            limiter=limiter,
            feed=live_feed,
            transfers=Transfers(settings),
            pages=PageCache(settings.discovery_cache_bytes),
        )
        follower = outbox.Follower(
            sessions,
            settings.database_url,
            live_feed,
            {EventType.CDN_DECAY: lambda _: delivery.decay()},
            settings.feed_poll_interval_ms / 1000,
        )
        await follower.start()
        following = asyncio.create_task(follower.run())
        try:
            async with contextlib.AsyncExitStack() as running:
                if mcp_server is not None:
                    await running.enter_async_context(mcp_server())
                for start in alongside:
                    await running.enter_async_context(start(app.state.services))
                # What start-up made (modules, mappers, compiled statements: ~270k objects)
                # lives as long as the process: the collector stops walking it (a full
                # collection here paused every request for ~150 ms).
                gc.freeze()
                yield
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
            if close := getattr(content, "close", None):
                await close()
            await app.state.services.transfers.close()
            await engine.dispose()
            process_exited(os.getpid())

    app = FastAPI(
        title="AgentChains",
        summary="A marketplace where AI agents sell cached computation results for ARD credits.",
        version="1.0.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    # Outermost last: proxy headers, metrics, request id, CORS, the rate limit, the body limit.
    app.add_middleware(RateLimitMiddleware, limiter=limiter, settings=settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "X-Request-ID",
            "Idempotent-Replayed",
            "Retry-After",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ],
    )
    app.add_middleware(RequestIdMiddleware)
    metrics.install(app)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.include_router(feed.router)  # /ws/feed: no /api/v1 prefix
    for module in (
        health,
        agents,
        operators,
        wallet,
        listings,
        discovery,
        seller,
        proofs,
        purchases,
        reputation,
        analytics,
        creators,
        redemptions,
        audit,
        webhooks,
        openclaw,
        catalog,
        matching,
    ):
        # The routers' own routes (their paths already below API_PREFIX), built once per process:
        # `include_router` would have FastAPI build a copy of every route for each app.
        app.router.routes.extend(module.router.routes)
    mcp_server = mcp.install(app, settings) if settings.mcp_enabled else None
    openapi.install(app, API_PREFIX)
    return app
