"""The embedded stack as `make run` starts it, for benchmarks that drive it over HTTP.

A Temporal dev server (SQLite file), the worker (`python -m worker`) and the API process
(`uvicorn worker.api_process:create_app`), on free loopback ports, against a scratch database:
SQLite (the embedded default) or a fresh PostgreSQL database (production's).
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from core.temporal import binary, dev_server_flags, persisted
from worker.cli import migrate

ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(kind: str, directory: str) -> Iterator[str]:
    """A migrated, empty database of `kind` (sqlite | postgresql), dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{directory}/marketplace.db"
        migrate(url)
        yield url
        return
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {timeout:.0f}s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each, last started first, each once the one after it has left (the worker
    shuts down while its Temporal server still answers); SIGKILL one that takes over 20 s."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _children(pid: int, count: int, timeout: float = 60) -> list[int]:
    """The `count` child processes of `pid` (not multiprocessing's resource tracker), once they
    are all there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [
            int(child)
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        if len(children) >= count:
            return children[:count]
        time.sleep(0.1)
    raise RuntimeError(f"{pid} did not start {count} processes within {timeout:.0f}s")


@dataclass
class Stack:
    temporal: str  # host:port
    api: str  # base URL, /api/v1 included
    processes: list[subprocess.Popen[bytes]]
    pids: dict[str, int]  # by role: temporal, worker, api, and any extra process

    def stop(self) -> None:
        stop(self.processes)


@contextlib.contextmanager
def stack(
    url: str,
    scratch: str,
    *,
    extra: Sequence[tuple[str, list[str]]] = (),
    env: dict[str, str] | None = None,
    api_processes: int = 1,
) -> Iterator[Stack]:
    """Temporal, the worker, any `extra` processes (role, command) and the API: `api_processes`
    uvicorn processes on its one port (roles `api-1`, `api-2`, … beside their parent `api`)."""
    temporal_port, api_port = free_port(), free_port()
    temporal = f"127.0.0.1:{temporal_port}"
    server = [binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1"]
    server += ["--port", str(temporal_port), "--headless", "--log-level", "error"]
    server += [*persisted(f"{scratch}/temporal.db"), *dev_server_flags()]
    environment = {
        **os.environ,
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "DB_POOL_SIZE": "20",
        "DB_MAX_OVERFLOW": "20",
        "LOG_LEVEL": "WARNING",
        "CONTENT_STORE_PATH": f"{scratch}/content",
        "CDN_WARM_PATH": f"{scratch}/warm",
        "TEMPORAL_ADDRESS": temporal,
        "TOKEN_SIGNUP_BONUS": "1000000",  # enough credits for any run
        "REST_RATE_LIMIT_AUTHENTICATED": "1000000",
        "REST_RATE_LIMIT_ANONYMOUS": "1000000",
        "REGISTRATIONS_PER_CLIENT_PER_HOUR": "1000000",
        "SIGNUP_BONUS_DAILY_BUDGET_ARD": "1000000000",
        "WORKER_METRICS_PORT": "0",
        **(env or {}),
    }
    api = [sys.executable, "-m", "uvicorn", "worker.api_process:create_app", "--factory"]
    api += ["--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"]
    if api_processes > 1:
        api += ["--workers", str(api_processes)]
        environment["API_PROCESSES"] = str(api_processes)
        environment["PROMETHEUS_MULTIPROC_DIR"] = f"{scratch}/prometheus"
        os.makedirs(environment["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    roles = [
        ("worker", [sys.executable, "-m", "worker"]),
        *extra,
        ("api", [*api, "--no-access-log"]),
    ]
    processes = [subprocess.Popen(server, stdout=subprocess.DEVNULL, start_new_session=True)]
    pids = {"temporal": processes[0].pid}
    running = Stack(temporal, f"http://127.0.0.1:{api_port}/api/v1", processes, pids)
    try:
        wait_for_port(temporal_port, processes[0])
        for role, command in roles:
            # Their logs go to stderr: a bench's stdout is its one JSON document.
            process = subprocess.Popen(
                command, env=environment, start_new_session=True, stdout=sys.stderr
            )
            processes.append(process)
            pids[role] = process.pid
        wait_for_port(api_port, processes[-1])
        if api_processes > 1:
            for number, child in enumerate(_children(pids["api"], api_processes), 1):
                pids[f"api-{number}"] = child
        yield running
    finally:
        running.stop()


async def healthy(api: httpx.AsyncClient) -> None:
    """Wait (up to a minute) until the API reports its database, Temporal and worker ready."""
    last = None
    try:
        async with asyncio.timeout(60):
            while last is None or last.get("status") != "ok":
                with contextlib.suppress(httpx.HTTPError):
                    last = (await api.get("/health")).json()
                await asyncio.sleep(0.3)
    except TimeoutError:
        raise RuntimeError(f"the stack is not healthy: {last}") from None


async def agents(api: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    """`count` registered agents: their bearer headers (and ids as `X-Agent-Id`)."""
    made = []
    for _ in range(count):
        body = {"name": f"bench-{uuid.uuid4().hex[:12]}", "agent_type": "both"}
        response = await api.post("/agents/register", json=body)
        response.raise_for_status()
        answer = response.json()
        made.append({"Authorization": f"Bearer {answer['jwt_token']}", "X-Agent-Id": answer["id"]})
    return made


@contextlib.asynccontextmanager
async def client(base: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as api:
        yield api
