"""Liveness of the API and each dependency; `degraded`, never 500, when one is down."""

import asyncio
import logging
from collections.abc import Awaitable
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter

from api.deps import State
from api.routes import API_PREFIX
from core.db import read_only
from core.temporal import task_queue_pollers
from domain import health

router = APIRouter(prefix=API_PREFIX, tags=["health"])
log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3.0


async def _probe(check: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        # The driver's text (hosts, ports, names) stays in the log; the answer names the kind.
        log.warning("health check failed", exc_info=True)
        return {"status": "down", "error": type(exc).__name__}


async def _database(state: Any) -> dict[str, Any]:
    async with read_only(state.sessions) as session:
        return {**await health.database(session), "counts": await health.counts(session)}


async def _temporal(state: Any) -> dict[str, Any]:
    queue = state.settings.temporal_task_queue
    pollers = await task_queue_pollers(state.temporal, queue)
    return {
        "status": "ok" if pollers else "degraded",
        "address": state.settings.temporal_address,
        "namespace": state.temporal.namespace,
        "task_queue": queue,
        "workers_polling": pollers,
    }


@router.get("/health")
async def get_health(state: State) -> dict[str, Any]:
    database, temporal, content = await asyncio.gather(
        _probe(_database(state)),
        _probe(_temporal(state)),
        _probe(health.content_store(state.content)),
    )
    dependencies = {"database": database, "temporal": temporal, "content_store": content}
    return {
        "status": "ok" if all(d["status"] == "ok" for d in dependencies.values()) else "degraded",
        "version": version("agentchains"),
        "counts": database.pop("counts", {}),
        "dependencies": dependencies,
    }


@router.get("/health/cdn")
async def cdn_health(state: State) -> dict[str, Any]:
    """Per-tier hits and misses, hot-tier bytes used of the budget, promotions, evictions."""
    return state.delivery.stats()
