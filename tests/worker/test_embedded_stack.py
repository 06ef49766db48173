"""`make run`'s process: Temporal dev server + worker + API (2 processes) come up, and Ctrl-C
leaves nothing."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from core.temporal import connect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_for_health(url: str, timeout: float) -> dict[str, object]:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2).json()
            if last.get("status") == "ok":
                return dict(last)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"stack not healthy in {timeout}s: {last}")


def _express_buy(api: str) -> str:
    """A seller lists, a buyer buys at once: the purchase's workflow id."""
    agents = []
    for _ in range(2):
        body = {"name": f"stack-{uuid.uuid4().hex[:10]}", "agent_type": "both"}
        made = httpx.post(f"{api}/agents/register", json=body, timeout=10).json()
        agents.append({"Authorization": f"Bearer {made['jwt_token']}"})
    seller, buyer = agents
    item = {"title": "t", "category": "web_search", "content": "c", "price_usdc": "0.005"}
    listing = httpx.post(f"{api}/listings", headers=seller, json=item, timeout=10).json()
    bought = httpx.post(f"{api}/express/{listing['id']}", headers=buyer, timeout=30)
    assert bought.status_code == 200, bought.text
    return f"purchase:{bought.json()['transaction_id']}"


async def _workflow_task_workers(temporal: str, workflow_id: str) -> set[str]:
    client = await connect(temporal, "default")
    handle = client.get_workflow_handle(workflow_id)
    await handle.result()  # the buy was answered by its step: the close may come a moment later
    history = await handle.fetch_history()
    return {
        event.workflow_task_completed_event_attributes.identity
        for event in history.events
        if event.HasField("workflow_task_completed_event_attributes")
    }


def _pid_running(marker: str, command: str) -> int:
    for pid in _processes_with(marker):
        if command.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError(f"no process runs {command}")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_stack_comes_up_and_ctrl_c_leaves_no_process(tmp_path: Path) -> None:
    """And an express purchase runs in the API process that waits for it (eager start)."""
    marker = f"AGENTCHAINS_STACK_TEST={uuid.uuid4().hex}"
    api_port, ui_port, temporal_port = _free_port(), _free_port(), _free_port()
    worker_metrics_port = _free_port()
    env = {
        **os.environ,
        marker.split("=")[0]: marker.split("=")[1],
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/marketplace.db",
        "CONTENT_STORE_PATH": str(tmp_path / "content"),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "TEMPORAL_UI_PORT": str(ui_port),
        "TEMPORAL_DB_PATH": str(tmp_path / "temporal.db"),
        "MARKETPLACE_HOST": "127.0.0.1",
        "MARKETPLACE_PORT": str(api_port),
        "API_PROCESSES": "2",
        "WORKER_METRICS_PORT": str(worker_metrics_port),
    }
    subprocess.run([sys.executable, "-m", "worker.cli", "migrate"], env=env, check=True)
    stack = subprocess.Popen([sys.executable, "-m", "worker.embedded"], env=env)
    try:
        health = _wait_for_health(f"http://127.0.0.1:{api_port}/api/v1/health", 90)
        assert health["dependencies"]["temporal"]["workers_polling"] >= 1  # type: ignore[index]
        assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{api_port}/docs", timeout=5).status_code == 200
        # supervisor, temporal, worker, and uvicorn's supervisor with its 2 API processes
        assert len(_processes_with(marker)) >= 6
        api_metrics = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5).text
        assert "agentchains_http_requests_total" in api_metrics
        assert (tmp_path / "prometheus").is_dir()  # the API processes' shared metrics
        worker_metrics = httpx.get(f"http://127.0.0.1:{worker_metrics_port}/metrics", timeout=5)
        assert "temporal_" in worker_metrics.text
        workflow_id = _express_buy(f"http://127.0.0.1:{api_port}/api/v1")
        worker_pid = _pid_running(marker, "-m\x00worker\x00")
        identities = asyncio.run(_workflow_task_workers(env["TEMPORAL_ADDRESS"], workflow_id))
        ran_in = {int(i.split("@")[0]) for i in identities}  # an API process, not the worker
        assert len(ran_in) == 1 and ran_in <= set(_processes_with(marker)) - {worker_pid}
    finally:
        stack.send_signal(signal.SIGINT)
        code = stack.wait(60)
    assert code == 0
    assert (tmp_path / "temporal.db").exists()
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []


def test_create_operator_cli_prints_a_working_token(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/m.db"}
    subprocess.run([sys.executable, "-m", "worker.cli", "migrate"], env=env, check=True)
    made = subprocess.run(
        [sys.executable, "-m", "worker.cli", "create-operator", "alice"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    jwt = made.stdout.strip()
    assert jwt.count(".") == 2
    again = subprocess.run(
        [sys.executable, "-m", "worker.cli", "create-operator", "alice"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode != 0 and "already exists" in again.stderr
