"""The app served by uvicorn with MCP on (the product's default), a real Temporal server and
this code's worker."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from tests.api.mcp_server.helpers import Live
from tests.conftest import StartWorker, make_settings, temporal_address
from tests.local_server import LocalServer


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, mcp_enabled=True)


@pytest.fixture
async def live_mcp(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> AsyncIterator[Live]:
    settings.temporal_address = temporal_address(temporal_dev.client)
    await start_worker(temporal_dev.client)
    async with (
        LocalServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=60) as rest,
    ):
        yield Live(server.url, rest)
