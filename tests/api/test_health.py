import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from tests.conftest import StartWorker, make_settings, temporal_address


async def _health(settings: Settings, until_ok: bool = False) -> dict[str, object]:
    """The health report; with `until_ok`, polled for a few seconds while a worker registers."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(50):
                response = await client.get("/api/v1/health")
                assert response.status_code == 200
                body: dict[str, object] = response.json()
                if not until_ok or body["status"] == "ok":
                    break
                await asyncio.sleep(0.2)
    return body


async def test_ok_when_database_temporal_worker_and_store_are_up(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    settings.temporal_address = temporal_address(temporal_dev.client)
    await start_worker(temporal_dev.client)
    body = await _health(settings, until_ok=True)
    deps = body["dependencies"]
    assert isinstance(deps, dict)
    assert body["status"] == "ok", body
    assert deps["temporal"]["workers_polling"] >= 1
    assert deps["database"]["status"] == "ok"
    assert deps["content_store"]["backend"] == "hashfs"
    counts = body["counts"]
    assert isinstance(counts, dict) and set(counts) == {"agents", "listings", "transactions"}
    assert all(isinstance(n, int) and n >= 0 for n in counts.values())


async def test_degraded_when_no_worker_polls(
    settings: Settings, temporal_dev: WorkflowEnvironment
) -> None:
    settings.temporal_address = temporal_address(temporal_dev.client)
    body = await _health(settings)
    assert body["status"] == "degraded"
    assert body["dependencies"]["temporal"]["workers_polling"] == 0  # type: ignore[index]


@pytest.mark.parametrize("down", ["database", "temporal", "content_store"])
async def test_degraded_not_500_when_a_dependency_is_down(
    sqlite_url: str, tmp_path: Path, temporal_dev: WorkflowEnvironment, down: str
) -> None:
    database_url = sqlite_url
    overrides: dict[str, object] = {"temporal_address": temporal_address(temporal_dev.client)}
    if down == "database":
        database_url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    elif down == "temporal":
        overrides["temporal_address"] = "127.0.0.1:1"
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        overrides["content_store_path"] = str(blocker / "store")
    body = await _health(make_settings(database_url, tmp_path, **overrides))
    assert body["status"] == "degraded"
    assert body["dependencies"][down]["status"] == "down"  # type: ignore[index]
    assert body["dependencies"][down]["error"]  # type: ignore[index]


async def test_cdn_health_reports_each_tier(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/v1/health/cdn")).json()
    assert {"hot", "warm", "cold"} <= body.keys()
    assert body["hot"]["max_bytes"] == 268_435_456
    assert body["hot"]["bytes_used"] <= body["hot"]["max_bytes"]
    assert {"promotions", "evictions", "entries"} <= body["hot"].keys()
