"""Deployment defaults fail closed: the API process will not serve with the built-in (public)
JWT secret unless started in an explicit development mode; the image never carries a secret;
compose publishes the Temporal UI and Azurite on loopback only."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _api(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"ENVIRONMENT", "JWT_SECRET_KEY"}}
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # no .env here
        env={
            **clean,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/m.db",
            "CONTENT_STORE_PATH": str(tmp_path / "content"),
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_api_refuses_to_start_without_a_real_secret(tmp_path: Path) -> None:
    """Nothing configured is production: the process exits before it listens."""
    port = _free_port()
    process = _api(tmp_path, port)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, output
    assert "JWT_SECRET_KEY" in output
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
        raise AssertionError("something answered on the port")
    except httpx.ConnectError:
        pass


def test_development_mode_serves_with_the_built_in_secret(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "worker.cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/m.db"},
        check=True,
    )
    port = _free_port()
    process = _api(tmp_path, port, ENVIRONMENT="development")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except httpx.ConnectError:
                assert process.poll() is None and time.monotonic() < deadline, "did not start"
                time.sleep(0.2)
        assert health.status_code == 200
    finally:
        process.terminate()
        process.wait(30)


def test_the_image_and_compose_expose_nothing_by_default() -> None:
    assert "JWT_SECRET_KEY" not in (ROOT / "Dockerfile").read_text().replace(
        "No JWT_SECRET_KEY here", ""
    )
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("temporal-ui", "azurite", "prometheus"):
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"]), name
    published = {name for name, service in services.items() if "ports" in service}
    assert published == {"proxy", "temporal-ui", "azurite", "prometheus"}  # the API via the proxy
    assert services["api"]["environment"]["JWT_SECRET_KEY"].startswith("${JWT_SECRET_KEY:?")
