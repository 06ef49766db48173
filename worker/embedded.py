"""`make run`: the whole embedded stack in one supervised foreground process.

Starts the Temporal dev server (persisted, with its UI), waits for it, then one worker and the
API (API_PROCESSES processes on the one port). SIGINT/SIGTERM (Ctrl-C) stops them in reverse
order; if any one dies, the rest are stopped too, so nothing is left behind.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from core.logging import configure_logging
from core.process import exit_hard
from core.settings import Settings, get_settings
from core.temporal import binary, dev_server_flags, persisted

STOP_GRACE_SECONDS = 20


def _commands(settings: Settings) -> list[tuple[str, list[str]]]:
    host, port = settings.temporal_address.rsplit(":", 1)
    Path(settings.temporal_db_path).parent.mkdir(parents=True, exist_ok=True)
    temporal = [
        binary("temporal"),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        *persisted(settings.temporal_db_path),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
    ]
    temporal += dev_server_flags()
    return [
        ("temporal", temporal),
        ("worker", [sys.executable, "-m", "worker"]),
        ("api", api_command(settings)),
    ]


def api_command(settings: Settings) -> list[str]:
    """API_PROCESSES uvicorn processes on the one port. The app reads X-Forwarded-For itself,
    from TRUSTED_PROXIES only, so uvicorn's own proxy-headers handling is off."""
    command = [sys.executable, "-m", "uvicorn", "worker.api_process:create_app", "--factory"]
    command += ["--host", settings.marketplace_host, "--port", str(settings.marketplace_port)]
    command += ["--no-access-log", "--no-proxy-headers"]
    if settings.api_processes > 1:
        command += ["--workers", str(settings.api_processes)]
    return command


def metrics_dir(settings: Settings) -> Path:
    """Where several API processes keep their metrics: PROMETHEUS_MULTIPROC_DIR, by default
    `prometheus/` beside the Temporal database (./data)."""
    default = Path(settings.temporal_db_path).parent / "prometheus"
    return Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or default)


def api_environment(settings: Settings) -> dict[str, str]:
    """With several API processes, their metrics meet in `metrics_dir`, emptied at every start
    (ADR 0020)."""
    env = os.environ.copy()
    if settings.api_processes > 1:
        directory = metrics_dir(settings)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return env


def _wait_for_port(address: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the Temporal dev server exited during start-up")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Temporal did not listen on {address} within {timeout:.0f}s")


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for name, process in reversed(children):
        if process.poll() is None:
            print(f"[stack] stopping {name}", file=sys.stderr, flush=True)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_level)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for name, command in _commands(settings):
            # Own process groups: Ctrl-C reaches only this supervisor, which stops them in order.
            env = api_environment(settings) if name == "api" else os.environ.copy()
            process = subprocess.Popen(command, start_new_session=True, env=env)
            children.append((name, process))
            print(f"[stack] started {name} (pid {process.pid})", file=sys.stderr, flush=True)
            if name == "temporal":
                _wait_for_port(settings.temporal_address, 60, process)
                print(
                    f"[stack] Temporal UI on http://localhost:{settings.temporal_ui_port}",
                    file=sys.stderr,
                    flush=True,
                )
        print(
            f"[stack] API on http://localhost:{settings.marketplace_port} (docs at /docs)",
            file=sys.stderr,
            flush=True,
        )
        while not stopping:
            for name, process in children:
                if process.poll() is not None:
                    print(f"[stack] {name} exited ({process.returncode})", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop(children)


if __name__ == "__main__":
    exit_hard(main)
