"""API processes as production runs them: `uvicorn api.app:create_app --factory`, each in its
own process on a free loopback port, all against the same database (and the same settings)."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from core.settings import Settings

START_TIMEOUT_SECONDS = 60


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(settings: Settings, **overrides: object) -> dict[str, str]:
    """The process environment that gives a uvicorn process these settings."""
    values = {**settings.model_dump(), **overrides}
    env = {k: v for k, v in os.environ.items() if k.upper() not in {n.upper() for n in values}}
    env.update({name.upper(): str(value) for name, value in values.items() if value is not None})
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


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


def _stop(processes: list[ApiProcess]) -> None:
    for api in processes:
        if api.process.poll() is None:
            api.process.send_signal(signal.SIGTERM)
    for api in processes:
        try:
            api.process.wait(20)
        except subprocess.TimeoutExpired:
            api.process.kill()
            api.process.wait()


@contextmanager
def api_processes(
    count: int, settings: Settings, **overrides: object
) -> Iterator[list[ApiProcess]]:
    """`count` API processes serving the settings' database until the block ends."""
    env = environment(settings, **overrides)
    started: list[ApiProcess] = []
    try:
        for _ in range(count):
            port = _free_port()
            command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
            command += ["--log-level", "warning"]
            process = subprocess.Popen(command, env=env, start_new_session=True)
            started.append(ApiProcess(port, process))
        for api in started:
            _wait_until_serving(api)
        yield started
    finally:
        _stop(started)
