"""The real API as N uvicorn processes on one free port, started as `make run` starts it
(`worker.embedded.api_command`), with the test's settings passed by environment variables.

For tests where processes matter: limits and metrics shared across processes, and later the
live feed and the MCP server. Use the `api_processes` fixture (tests/conftest.py).
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from core.settings import Settings
from worker.embedded import api_command, api_environment, metrics_dir

READY_LINE = "Application startup complete"
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(settings: Settings) -> dict[str, str]:
    """Every setting of `settings` as the environment variable it is read from."""
    return {
        name.upper(): str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


class ApiProcesses:
    def __init__(
        self, settings: Settings, processes: int, workdir: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()  # a port of its own, or the one a killed API had
        self.processes = processes
        self.settings = settings.model_copy(
            update={
                "marketplace_host": "127.0.0.1",
                "marketplace_port": self.port,
                "api_processes": processes,
                "temporal_db_path": str(workdir / "temporal.db"),  # metrics dir beside it
                "log_level": "INFO",
            }
        )
        self.log_path = workdir / f"api-{self.port}.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_dir(self) -> Path:
        return metrics_dir(self.settings)

    def requests_per_process(self, route: str) -> dict[int, int]:
        """How many requests each process answered on `route` (a template), read from that
        process's own files in the shared metrics directory."""
        pids = {
            int(m.group(1))
            for f in self.metrics_dir.glob("counter_*.db")
            if (m := re.fullmatch(r"counter_(\d+)\.db", f.name))
        }
        served = {}
        for pid in pids:
            files = [str(f) for f in self.metrics_dir.glob(f"*_{pid}.db")]
            served[pid] = sum(
                int(sample.value)
                for family in MultiProcessCollector.merge(files)
                for sample in family.samples
                if sample.name == "agentchains_http_requests_total"
                and sample.labels["route"] == route
            )
        return served

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return self._process.returncode if self._process is not None else None

    async def kill(self) -> None:
        """SIGKILL the whole API, as a crash would: its own session, so the uvicorn workers too."""
        process = self._process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def __aenter__(self) -> Self:
        ready_before = self.log.count(READY_LINE)  # an earlier API on this port logged here too
        env = {**api_environment(self.settings), **environment(self.settings)}
        with self.log_path.open("ab") as out:
            self._process = await asyncio.create_subprocess_exec(
                *api_command(self.settings),
                "--log-level",
                "info",
                env=env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_SECONDS
        while self.log.count(READY_LINE) - ready_before < self.processes:
            if self._process.returncode is not None:
                raise RuntimeError(f"the API exited during start-up:\n{self.log[-3000:]}")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the API did not start in time:\n{self.log[-3000:]}")
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=self.url) as client:
            while True:  # one process logs its start-up before it listens on the port
                try:
                    (await client.get("/api/v1/health")).raise_for_status()
                    return self
                except httpx.ConnectError:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.1)

    async def __aexit__(self, *_: object) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the uvicorn workers too
            await process.wait()


@dataclass(frozen=True)
class ApiProcess:
    port: int
    process: "subprocess.Popen[bytes]"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextmanager
def separate_processes(
    count: int, settings: Settings, **overrides: object
) -> Iterator[list[ApiProcess]]:
    """`count` API processes against the settings' database, each on a port of its own, so a
    test can reach each one (the live feed: what one process commits, every process sends)."""
    values = settings.model_copy(update=overrides)
    env = {k: v for k, v in os.environ.items() if k.upper() not in environment(values)}
    env.update(environment(values))
    env.setdefault("LOG_LEVEL", "WARNING")
    started: list[ApiProcess] = []
    try:
        for _ in range(count):
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
            command += ["--log-level", "warning"]
            process = subprocess.Popen(command, env=env, start_new_session=True)
            started.append(ApiProcess(port, process))
        for api in started:
            _wait_until_serving(api)
        yield started
    finally:
        for api in started:
            if api.process.poll() is None:
                api.process.send_signal(signal.SIGTERM)
        for api in started:
            try:
                api.process.wait(20)
            except subprocess.TimeoutExpired:
                api.process.kill()
                api.process.wait()


def _wait_until_serving(api: ApiProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if api.process.poll() is not None:
            raise RuntimeError(f"the API process on port {api.port} exited during start-up")
        try:
            if httpx.get(f"{api.url}/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the API process on port {api.port} did not serve in time")
