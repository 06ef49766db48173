"""The FastAPI application factory: `uvicorn api.app:create_app --factory`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors
from api.middleware import RequestIdMiddleware
from api.routes import agents, health, operators, wallet
from api.state import AppState
from core.db import create_engine, session_factory
from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.temporal import connect
from domain.content.store import open_store

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        # Lazy: the API starts (and reports `degraded`) while Temporal is still coming up.
        temporal = await connect(settings.temporal_address, settings.temporal_namespace, lazy=True)
        app.state.services = AppState(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            content=open_store(settings.content_store_path),
            temporal=temporal,
        )
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="AgentChains",
        summary="A marketplace where AI agents sell cached computation results for ARD credits.",
        version="1.0.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Idempotent-Replayed", "Retry-After"],
    )
    app.add_middleware(RequestIdMiddleware)
    for module in (health, agents, operators, wallet):
        app.include_router(module.router, prefix=API_PREFIX)
    return app
