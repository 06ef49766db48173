"""Content storage and 3-tier delivery against real backends: HashFS on disk and Azure Blob
Storage emulated by Azurite (from `npm ci`), started once for the session."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import AsyncioRequestsTransport
from azure.storage.blob.aio import BlobServiceClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.content.azure import AzureBlobStore
from domain.content.cdn import ContentCorrupted, ContentDelivery
from domain.content.store import ContentMissing, HashFS, InvalidContentKey, content_key

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
MiB = 1024 * 1024

HOSTILE_KEYS: list[Any] = ["../../etc/passwd", "sha256:../../etc/passwd", "a" * 64, "", None] + [
    "sha256:" + tail for tail in ("z" * 64, "a" * 63, "a" * 65, "A" * 64, "a" * 64 + "\n")
]
PAYLOADS = {
    "empty": b"",
    "text": "héllo, wörld — ✓\n".encode(),
    "random": os.urandom(4096),
    "one_mib": os.urandom(MiB),
}


def _shard(root: Path, key: str) -> Path:
    digest = key.removeprefix("sha256:")
    return root / digest[:2] / digest[2:4] / digest


def _files_under(root: Path) -> list[Path]:
    return list(root.rglob("*")) if root.exists() else []


# --- HashFS -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", PAYLOADS.values(), ids=PAYLOADS.keys())
async def test_hashfs_round_trip_is_byte_exact(tmp_path: Path, data: bytes) -> None:
    store = HashFS(tmp_path)
    key = await store.put(data)
    assert key == content_key(data)
    assert await store.put(data) == key
    assert await store.get(key) == data
    assert await store.exists(key)
    assert _shard(tmp_path, key).read_bytes() == data


async def test_hashfs_missing_content(tmp_path: Path) -> None:
    store = HashFS(tmp_path)
    with pytest.raises(ContentMissing):
        await store.get(content_key(b"never stored"))
    assert not await store.exists(content_key(b"never stored"))


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hashfs_refuses_hostile_keys_without_touching_disk(tmp_path: Path, key: Any) -> None:
    store = HashFS(tmp_path / "store")
    with pytest.raises(InvalidContentKey):
        await store.get(key)
    with pytest.raises(InvalidContentKey):
        await store.exists(key)
    assert _files_under(tmp_path) == []


# --- ContentDelivery over HashFS ----------------------------------------------------------


def _delivery(root: Path, hot_max_bytes: int = MiB, **options: Any) -> ContentDelivery:
    return ContentDelivery(HashFS(root / "cold"), root / "warm", hot_max_bytes, **options)


@pytest.mark.parametrize("data", PAYLOADS.values(), ids=PAYLOADS.keys())
async def test_every_tier_serves_byte_exact_content(tmp_path: Path, data: bytes) -> None:
    cdn = _delivery(tmp_path, hot_max_bytes=2 * MiB, promote_after=2)
    key = await cdn.put(data)
    assert await cdn.get(key) == (data, "cold")
    assert _shard(tmp_path / "warm", key).read_bytes() == data

    _shard(tmp_path / "cold", key).unlink()
    assert await cdn.get(key) == (data, "warm")
    assert await cdn.get(key) == (data, "warm")  # third access: promoted

    shutil.rmtree(tmp_path / "warm")
    assert await cdn.get(key) == (data, "hot")


async def test_promoted_after_more_than_ten_accesses(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path)
    key = await cdn.put(b"popular")
    tiers = [(await cdn.get(key))[1] for _ in range(12)]
    assert tiers == ["cold"] + ["warm"] * 10 + ["hot"]
    stats = cdn.stats()
    counters = {k: v for k, v in stats["hot"].items() if k != "hit_rate"}
    assert counters == dict(hits=1, misses=11, bytes_used=7, max_bytes=MiB, entries=1,
                            promotions=1, evictions=0)  # fmt: skip
    assert all(type(v) is int for v in counters.values())
    assert (stats["warm"]["hits"], stats["warm"]["misses"], stats["cold"]["hits"]) == (10, 1, 1)
    assert (stats["requests"], stats["hit_rate"]) == (12, round(11 / 12, 4))
    assert stats["hot"]["hit_rate"] == round(1 / 12, 4)


async def test_decay_halves_counters_and_evicts_cold_entries(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path)
    hot_key, lukewarm_key = await cdn.put(b"hot"), await cdn.put(b"lukewarm")
    for _ in range(13):
        await cdn.get(hot_key)
    for _ in range(3):
        await cdn.get(lukewarm_key)

    expected = [(6, 1), (3, 0), (1, 0)]
    for hot_count, lukewarm_count in expected:
        cdn.decay()
        assert (cdn.accesses(hot_key), cdn.accesses(lukewarm_key)) == (hot_count, lukewarm_count)
        assert cdn.stats()["hot"]["entries"] == 1
    assert (await cdn.get(hot_key))[1] == "hot"  # 1 -> 2

    cdn.decay()  # 2 -> 1: still warm enough
    cdn.decay()  # 1 -> 0: cold, leaves the hot tier
    assert cdn.accesses(hot_key) == 0
    hot = cdn.stats()["hot"]
    assert (hot["bytes_used"], hot["entries"], hot["evictions"]) == (0, 0, 1)
    assert await cdn.get(hot_key) == (b"hot", "warm")


async def test_least_frequently_used_entry_makes_room(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path, hot_max_bytes=200, promote_after=0)
    often, seldom, newcomer = [await cdn.put(bytes([n]) * 100) for n in range(3)]
    for key, accesses in ((often, 5), (seldom, 3)):
        for _ in range(accesses):
            await cdn.get(key)
    assert cdn.stats()["hot"]["entries"] == 2

    for _ in range(3):
        await cdn.get(newcomer)  # at 1, 2, 3: may not displace seldom (3) or often (5)
        assert cdn.stats()["hot"]["promotions"] == 2
    await cdn.get(newcomer)  # at 4: displaces seldom, never often
    assert [(await cdn.get(k))[1] for k in (often, newcomer, seldom)] == ["hot", "hot", "warm"]
    assert cdn.stats()["hot"]["evictions"] == 1
    assert cdn.stats()["hot"]["bytes_used"] == 200


async def test_items_larger_than_the_budget_are_never_hot(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path, hot_max_bytes=100, promote_after=0)
    key = await cdn.put(b"y" * 101)
    tiers = {(await cdn.get(key))[1] for _ in range(20)}
    assert tiers == {"cold", "warm"}
    assert cdn.stats()["hot"]["bytes_used"] == 0


async def test_missing_content_counts_a_miss_everywhere(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path)
    with pytest.raises(ContentMissing):
        await cdn.get(content_key(b"absent"))
    stats = cdn.stats()
    assert [stats[t]["misses"] for t in ("hot", "warm", "cold")] == [1, 1, 1]
    assert cdn.accesses(content_key(b"absent")) == 0


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_delivery_refuses_hostile_keys_without_touching_disk(
    tmp_path: Path, key: Any
) -> None:
    cdn = _delivery(tmp_path)
    with pytest.raises(InvalidContentKey):
        await cdn.get(key)
    assert _files_under(tmp_path) == []
    assert cdn.stats()["requests"] == 0


async def test_corrupted_cold_content_is_refused_and_not_cached(tmp_path: Path) -> None:
    cdn = _delivery(tmp_path)
    key = content_key(b"genuine")
    path = _shard(tmp_path / "cold", key)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"tampered")
    with pytest.raises(ContentCorrupted):
        await cdn.get(key)
    assert not (tmp_path / "warm").exists()


class CountingHashFS(HashFS):
    reads = 0

    async def get(self, key: str) -> bytes:
        self.reads += 1
        await asyncio.sleep(0.01)  # keep the read in flight while the others arrive
        return await super().get(key)


async def test_concurrent_misses_share_one_cold_read(tmp_path: Path) -> None:
    cold = CountingHashFS(tmp_path / "cold")
    cdn = ContentDelivery(cold, tmp_path / "warm", MiB, promote_after=3)
    data = os.urandom(64 * 1024)
    key = await cdn.put(data)
    results = await asyncio.gather(*(cdn.get(key) for _ in range(50)))
    assert cold.reads == 1
    assert all(got == data for got, _ in results)
    assert cdn.accesses(key) == 50 and cdn.stats()["hot"]["entries"] == 1


access_steps = st.lists(
    st.one_of(st.just("decay"), st.lists(st.integers(0, 7), min_size=1, max_size=5)),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 600), min_size=1, max_size=8),
    budget=st.integers(0, 1500),
    promote_after=st.integers(0, 4),
    steps=access_steps,
)
def test_hot_bytes_never_exceed_the_budget(
    sizes: list[int], budget: int, promote_after: int, steps: list[Any]
) -> None:
    async def scenario(root: Path) -> None:
        cdn = _delivery(root, hot_max_bytes=budget, promote_after=promote_after)
        items = [f"{n}:".encode() + b"\xff" * size for n, size in enumerate(sizes)]
        keys = [await cdn.put(item) for item in items]
        for step in steps:
            if step == "decay":
                cdn.decay()
            else:
                picks = [n % len(items) for n in step]
                served = await asyncio.gather(*(cdn.get(keys[n]) for n in picks))
                assert [data for data, _ in served] == [items[n] for n in picks]
                assert all(len(data) <= budget for data, tier in served if tier == "hot")
            hot = cdn.stats()["hot"]
            assert 0 <= hot["bytes_used"] <= budget
            assert hot["entries"] == hot["promotions"] - hot["evictions"]

    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory() as root:
            loop.run_until_complete(scenario(Path(root)))
    finally:
        loop.close()


# --- Azure Blob Storage (Azurite) ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _connection_string(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Azurite blob service on a free port; yields its connection string."""
    if not AZURITE_BIN.exists() or shutil.which("npx") is None:
        reason = f"Azurite is not installed ({AZURITE_BIN} missing): run `npm ci` in {REPO_ROOT}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("azurite") / "azurite.log"
    command = ["npx", "--no-install", "azurite-blob", "--inMemoryPersistence",
               "--blobHost", "127.0.0.1", "--blobPort", str(port),
               "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"]  # fmt: skip
    with log_path.open("wb") as log:
        # Its own process group: npx starts node as a child, and both must be stopped.
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_port(port, process, log_path)
        yield _connection_string(port)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited early:\n{log_path.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not answer on port {port} within 30 s")


@pytest.fixture
async def azure_store(azurite: str) -> AsyncIterator[AzureBlobStore]:
    async with AzureBlobStore(azurite, f"test-{uuid.uuid4().hex}") as store:
        yield store


def _service(connection_string: str) -> BlobServiceClient:
    # aiohttp is not installed; use the same transport as AzureBlobStore.
    return BlobServiceClient.from_connection_string(
        connection_string, transport=AsyncioRequestsTransport()
    )


@pytest.mark.parametrize("data", PAYLOADS.values(), ids=PAYLOADS.keys())
async def test_azure_round_trip_is_byte_exact(azure_store: AzureBlobStore, data: bytes) -> None:
    key = await azure_store.put(data)  # creates the container on first use
    assert key == content_key(data)
    assert await azure_store.put(data) == key
    assert await azure_store.get(key) == data
    assert await azure_store.exists(key)


async def test_azure_missing_content(azure_store: AzureBlobStore) -> None:
    with pytest.raises(ContentMissing):
        await azure_store.get(content_key(b"never stored"))  # container not even created yet
    await azure_store.put(b"something else")
    with pytest.raises(ContentMissing):
        await azure_store.get(content_key(b"never stored"))
    assert not await azure_store.exists(content_key(b"never stored"))


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_azure_refuses_hostile_keys(azurite: str, key: Any) -> None:
    container = f"test-{uuid.uuid4().hex}"
    async with AzureBlobStore(azurite, container) as store:
        with pytest.raises(InvalidContentKey):
            await store.get(key)
        with pytest.raises(InvalidContentKey):
            await store.exists(key)
    async with _service(azurite) as service:
        assert not await service.get_container_client(container).exists()


async def test_azure_check_writes_a_probe_and_cleans_up(azurite: str) -> None:
    container = f"test-{uuid.uuid4().hex}"
    async with AzureBlobStore(azurite, container) as store:
        await store.check()
    async with _service(azurite) as service:
        names = [b.name async for b in service.get_container_client(container).list_blobs()]
    assert names == []


async def test_azure_check_fails_when_unreachable() -> None:
    async with AzureBlobStore(_connection_string(_free_port()), "x", retry_total=0) as store:
        with pytest.raises(ServiceRequestError):
            await store.check()


async def test_delivery_over_azure_serves_byte_exact_content(
    azure_store: AzureBlobStore, tmp_path: Path
) -> None:
    data = os.urandom(MiB)
    cdn = ContentDelivery(azure_store, tmp_path / "warm", 2 * MiB, promote_after=1)
    key = await cdn.put(data)
    served = [await cdn.get(key) for _ in range(3)]
    assert served == [(data, "cold"), (data, "warm"), (data, "hot")]
