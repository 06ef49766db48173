"""OpenAPI fuzzing: schemathesis with all its checks (no server error, every response as
documented, schema-valid requests accepted, schema-violating ones refused, auth honoured...)
against the real app served by uvicorn on a free port, on PostgreSQL, with a Temporal dev
server and this code's worker behind it, as an agent, a creator and an operator at once.

Bounded to fit CI: each identity's run stops after FUZZ_MAX_SECONDS (100; the three run at
once), with at most FUZZ_EXAMPLES cases per operation and round, from a fixed FUZZ_SEED so a
failure reproduces. Raise them for a deeper run. The hooks and the token's configuration are
in tests/api/fuzz_hooks.py and tests/api/schemathesis.toml.
"""

import asyncio
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from tests.api.helpers import register
from tests.api.test_creators import register_creator
from tests.conftest import PROVIDER_SECRET, StartWorker, temporal_address
from tests.local_server import LocalServer
from worker.cli import create_operator

EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "10")
SEED = os.environ.get("FUZZ_SEED", "20261205")
MAX_TIME = os.environ.get("FUZZ_MAX_SECONDS", "30")
ROOT = Path(__file__).resolve().parents[2]

# Each identity fuzzes the operations it may use (the others answer 403 before reading
# anything, which tests/api/test_auth_matrix.py covers route by route).
SCOPES = {
    "agent": ["--exclude-path-regex", "^/api/v1/(creators|redemptions|payouts|operators)"],
    "creator": ["--include-path-regex", "^/api/v1/(creators|redemptions)"],
    "operator": [
        "--include-path-regex",
        "^/api/v1/(operators|payouts|redemptions/admin|wallet/(ledger|deposit/))",
    ],
}


async def _schemathesis(url: str, token: str, scope: list[str], workdir: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--max-time",
        MAX_TIME,
        "--workers",
        "1",  # CPython 3.11's ast is not thread-safe, and hypothesis parses lambdas with it
        *scope,
        cwd=workdir,  # its caches (.hypothesis, .schemathesis) stay in the test's directory
        env={**os.environ, "PYTHONPATH": str(ROOT), "FUZZ_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: where NUL, lengths and numeric ranges are enforced by the database."""
    return postgres_url


@pytest.mark.temporal
async def test_openapi_fuzz_finds_nothing(
    settings: Settings, tmp_path: Path, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> None:
    settings.temporal_address = temporal_address(temporal_dev.client)
    settings.payment_webhook_secret = PROVIDER_SECRET
    await start_worker(temporal_dev.client)
    app = create_app(settings)
    async with app.router.lifespan_context(app), LocalServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            tokens = {
                "agent": (await register(client))["jwt_token"],
                "creator": (await register_creator(client))["token"],
                "operator": await create_operator(settings, f"fuzz-{uuid.uuid4().hex[:8]}"),
            }
        results = await asyncio.gather(
            *(
                _schemathesis(server.url, tokens[who], scope, tmp_path)
                for who, scope in SCOPES.items()
            )
        )
    for who, (_, out) in zip(SCOPES, results, strict=True):  # shown with `pytest -rP`
        print(who, *(line for line in out.splitlines() if " generated, " in line))
    failed = {who: out for who, (code, out) in zip(SCOPES, results, strict=True) if code != 0}
    assert not failed, "\n\n".join(
        f"=== as {who} ===\n{out[-20_000:]}" for who, out in failed.items()
    )
