"""/ws/feed with a real `websockets` client against two API processes (uvicorn, as production
runs them) on one database: events reach clients on either process, each only where it may be
seen; `since` resumes without gap or duplicate; the close codes of api.md."""

import asyncio
import base64
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jose import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from activities.content import ContentActivities
from core.clock import utcnow
from core.db import create_engine, session_factory, unit_of_work
from core.security import TokenKind
from core.settings import Settings
from domain import events
from domain.events import EventType
from tests.api.test_creators import register_creator
from tests.api_processes import ApiProcess, separate_processes
from tests.conftest import TEST_SECRET, bearer, make_settings, token
from worker.cli import create_operator

Sessions = async_sessionmaker[AsyncSession]
Message = dict[str, Any]
QUEUE = 64  # per client, in these processes
WAIT = 15.0  # seconds a test waits for a message that must come


class Stack:
    def __init__(self, processes: list[ApiProcess], settings: Settings, sessions: Sessions):
        self.processes, self.settings, self.sessions = processes, settings, sessions

    def http(self, n: int, prefix: str = "/api/v1") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.processes[n].url}{prefix}", timeout=30)

    async def agent(self, n: int = 0) -> dict[str, Any]:
        async with self.http(n) as api:
            body = {"name": f"feed-{uuid.uuid4().hex[:10]}", "agent_type": "both"}
            response = await api.post("/agents/register", json=body)
        assert response.status_code == 201, response.text
        agent: dict[str, Any] = response.json()
        agent["headers"] = bearer(agent["jwt_token"])
        return agent

    async def listing(self, seller: dict[str, Any], title: str, n: int = 0) -> str:
        body = {
            "title": title,
            "category": "web_search",
            "content": "result",
            "content_type": "text/plain",
            "price_usdc": "0.005",
        }
        async with self.http(n) as api:
            response = await api.post("/listings", headers=seller["headers"], json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def mark(self) -> str:
        """A public event written to the outbox: a point to resume after, or a probe."""
        async with unit_of_work(self.sessions) as session:
            event = events.emit(session, EventType.LISTING_CREATED, {"title": "mark"})
        return str(event.id)

    @asynccontextmanager
    async def feed(
        self, n: int, jwt_token: str | None, *, header: bool = False, **query: str
    ) -> AsyncIterator[ClientConnection]:
        params = dict(query)
        headers = {}
        if jwt_token is not None and header:
            headers = bearer(jwt_token)
        elif jwt_token is not None:
            params["token"] = jwt_token
        url = str(httpx.URL(f"{self.processes[n].ws}/ws/feed", params=params))
        async with connect(url, additional_headers=headers, proxy=None) as ws:
            yield ws


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def stack_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    url = str(request.getfixturevalue(f"{request.param}_url".replace("postgresql", "postgres")))
    return make_settings(url, tmp_path_factory.mktemp("feed"), feed_client_queue_size=QUEUE)


@pytest.fixture(scope="module")
def processes(stack_settings: Settings) -> Iterator[list[ApiProcess]]:
    with separate_processes(2, stack_settings) as started:
        yield started


@pytest.fixture
async def stack(processes: list[ApiProcess], stack_settings: Settings) -> AsyncIterator[Stack]:
    engine = create_engine(stack_settings.database_url)
    yield Stack(processes, stack_settings, session_factory(engine))
    await engine.dispose()


async def _next(ws: ClientConnection, within: float = WAIT) -> Message:
    async with asyncio.timeout(within):
        message: Message = json.loads(await ws.recv())
        return message


async def _until(
    ws: ClientConnection, done: Callable[[Message], bool], within: float = WAIT
) -> list[Message]:
    """Every message up to and including the first for which `done` holds."""
    seen: list[Message] = []
    async with asyncio.timeout(within):
        while not seen or not done(seen[-1]):
            seen.append(json.loads(await ws.recv()))
    return seen


def _is(event_id: str) -> Callable[[Message], bool]:
    return lambda message: message["id"] == event_id


async def _live(stack: Stack, *clients: ClientConnection) -> None:
    """Wait until the clients are subscribed: probes go out until each has received one."""
    for ws in clients:
        for _ in range(50):
            probe = await stack.mark()
            try:
                await _until(ws, _is(probe), within=0.5)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the client never went live")


async def _closed_with(ws: ClientConnection, within: float = WAIT) -> tuple[int, list[Message]]:
    """Read until the server closes; its close code and what came before."""
    seen: list[Message] = []
    try:
        async with asyncio.timeout(within):
            while True:
                seen.append(json.loads(await ws.recv()))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, seen


async def test_a_public_event_reaches_clients_on_both_processes(stack: Stack) -> None:
    watcher = await stack.agent(1)
    async with (
        stack.feed(0, watcher["jwt_token"]) as first,
        stack.feed(1, watcher["jwt_token"], header=True) as second,
    ):
        await _live(stack, first, second)
        seller = await stack.agent(0)
        listing = await stack.listing(seller, "a public result", n=1)
        for ws in (first, second):
            seen = await _until(ws, lambda m: m["data"].get("listing_id") == listing)
            registered = [m for m in seen if m["type"] == "agent_registered"]
            assert [m["data"] for m in registered] == [
                {"agent_id": seller["id"], "name": seller["name"]}  # nothing private
            ]
            created = seen[-1]
            assert set(created) == {"id", "type", "timestamp", "data"}
            assert created["type"] == "listing_created"
            assert created["data"]["price_usdc"] == "0.005000"
            assert created["data"]["seller_id"] == seller["id"]
            # the seller's signup bonus is private to the seller
            assert not [m for m in seen if m["type"] == "token_deposit"]


async def test_a_private_event_reaches_exactly_its_audience(stack: Stack) -> None:
    sender, receiver, bystander = await stack.agent(0), await stack.agent(1), await stack.agent()
    operator = await create_operator(stack.settings, f"op-{uuid.uuid4().hex[:8]}")
    creator = token(TokenKind.CREATOR, uuid.uuid4())  # valid only if the creator exists: below
    start = await stack.mark()
    async with (
        stack.feed(0, sender["jwt_token"], since=start) as to_sender,
        stack.feed(1, receiver["jwt_token"], since=start) as to_receiver,
        stack.feed(0, bystander["jwt_token"], since=start) as to_bystander,
        stack.feed(1, operator, since=start) as to_operator,
    ):
        async with stack.http(1) as api:
            body = {"to_agent_id": receiver["id"], "amount": "12.5"}
            moved = await api.post("/wallet/transfer", headers=sender["headers"], json=body)
        assert moved.status_code == 201, moved.text
        end = await stack.mark()  # everything before it was delivered by the time it arrives
        for ws in (to_sender, to_receiver, to_operator, to_bystander):
            seen = await _until(ws, _is(end))
            transfers = [m for m in seen if m["type"] == "token_transfer"]
            if ws is to_bystander:
                assert transfers == []
                continue
            [transfer] = transfers
            assert transfer["data"]["amount_ard"] == "12.500"
            assert transfer["data"]["from_agent_id"] == sender["id"]
            assert transfer["data"]["to_agent_id"] == receiver["id"]
    async with stack.feed(0, creator) as unknown:
        assert (await _closed_with(unknown))[0] == 4003


async def test_creators_and_operators_see_what_is_theirs(stack: Stack) -> None:
    agent, other_agent = await stack.agent(0), await stack.agent(1)
    async with stack.http(0, prefix="") as api:
        owner = await register_creator(api)
        rival = await register_creator(api)
    operator = await create_operator(stack.settings, f"op-{uuid.uuid4().hex[:8]}")
    start = await stack.mark()
    async with (
        stack.feed(1, owner["token"], since=start) as to_owner,
        stack.feed(0, rival["token"], since=start) as to_rival,
        stack.feed(1, operator, since=start) as to_operator,
        stack.feed(0, other_agent["jwt_token"], since=start) as to_other_agent,
        stack.feed(0, agent["jwt_token"], since=start) as to_agent,
    ):
        async with stack.http(0) as api:
            proof = {**owner["headers"], "X-Agent-Token": agent["jwt_token"]}
            claimed = await api.post(f"/creators/me/agents/{agent['id']}/claim", headers=proof)
        assert claimed.status_code == 200, claimed.text
        async with unit_of_work(stack.sessions) as session:  # as the ledger audit writes it
            events.emit(session, EventType.LEDGER_AUDIT_FAILED, {"severity": "critical"})
        await ContentActivities(stack.sessions).announce_decay()
        end = await stack.mark()
        seen = {
            name: [m["type"] for m in await _until(ws, _is(end))]
            for name, ws in {
                "owner": to_owner,
                "rival": to_rival,
                "operator": to_operator,
                "other_agent": to_other_agent,
                "agent": to_agent,
            }.items()
        }
    private = {"agent_claimed", "ledger_audit_failed", "cdn_decay"}
    assert [t for t in seen["owner"] if t in private] == ["agent_claimed"]
    assert [t for t in seen["agent"] if t in private] == ["agent_claimed"]
    assert [t for t in seen["operator"] if t in private] == ["agent_claimed", "ledger_audit_failed"]
    assert [t for t in seen["rival"] if t in private] == []
    assert [t for t in seen["other_agent"] if t in private] == []


async def test_since_resumes_without_gap_or_duplicate(stack: Stack) -> None:
    """A client reads part of a stream, leaves, and comes back on the other process while
    listings keep being created; it sees each listing once, in order, like a client that
    never left."""
    seller, reader = await stack.agent(0), await stack.agent(1)
    titles = [f"resume-{uuid.uuid4().hex[:6]}-{n:02}" for n in range(40)]
    start = await stack.mark()

    async def write() -> None:
        for n, title in enumerate(titles):
            await stack.listing(seller, title, n=n % 2)

    def listed(messages: list[Message]) -> list[str]:
        return [m["data"]["title"] for m in messages if m["data"].get("title") in titles]

    async with stack.feed(1, reader["jwt_token"], since=start) as witness:
        writer = asyncio.create_task(write())
        got: list[Message] = []
        async with stack.feed(0, reader["jwt_token"], since=start) as first_visit:
            while len(listed(got)) < 12:
                got.append(await _next(first_visit))
        async with stack.feed(1, reader["jwt_token"], since=got[-1]["id"]) as second_visit:
            await asyncio.sleep(0.3)  # more listings commit while it reconnects
            got += await _until(second_visit, lambda m: m["data"].get("title") == titles[-1])
        await writer
        everything = await _until(witness, lambda m: m["data"].get("title") == titles[-1])
    assert listed(got) == titles
    assert len({m["id"] for m in got}) == len(got)
    assert [m["id"] for m in got] == [m["id"] for m in everything]


async def test_an_unknown_or_expired_since_asks_for_a_resync(stack: Stack) -> None:
    agent = await stack.agent()
    async with unit_of_work(stack.sessions) as session:
        old = events.emit(session, EventType.LISTING_CREATED, {"title": "long ago"})
        old.created_at = utcnow() - timedelta(days=stack.settings.event_retention_days, hours=1)
    for since in (str(uuid.uuid4()), str(old.id), "not-an-id"):
        async with stack.feed(0, agent["jwt_token"], since=since) as ws:
            resync = await _next(ws)
            assert resync["type"] == "resync_required" and resync["id"] is None
            assert resync["data"]["since"] == since
            marker = await stack.mark()  # and it goes on live
            await _until(ws, _is(marker))


async def test_close_codes(stack: Stack) -> None:
    agent = await stack.agent()
    expired = token(TokenKind.AGENT, agent["id"], expire_hours=-1)
    wrong_secret = token(TokenKind.AGENT, agent["id"], secret="another-secret-" + "y" * 32)
    for credentials, code in (
        (None, 4001),
        ("garbage", 4003),
        (expired, 4003),
        (wrong_secret, 4003),
        (token(TokenKind.CREATOR, uuid.uuid4()), 4003),  # no such creator
        (token(TokenKind.OPERATOR, uuid.uuid4()), 4003),  # no such operator
    ):
        async with stack.feed(1, credentials) as ws:
            assert (await _closed_with(ws))[0] == code, credentials

    # A connected agent that deactivates itself gets the event, then 4003; its token is dead.
    async with stack.feed(0, agent["jwt_token"]) as ws:
        await _live(stack, ws)
        async with stack.http(1) as api:
            gone = await api.delete(f"/agents/{agent['id']}", headers=agent["headers"])
        assert gone.status_code in (200, 204), gone.text
        code, seen = await _closed_with(ws)
    assert code == 4003
    assert seen[-1]["type"] == "agent_deactivated"
    async with stack.feed(1, agent["jwt_token"], header=True) as ws:
        assert (await _closed_with(ws))[0] == 4003

    # A token that expires while connected closes the connection then.
    living = await stack.agent()
    now = int(time.time())
    short = jwt.encode(
        {"sub": living["id"], "typ": "agent", "aud": "agentchains:agent", "exp": now + 2},
        TEST_SECRET,
        algorithm="HS256",
    )
    async with stack.feed(0, short) as ws:
        code, _ = await _closed_with(ws, within=10)
    assert code == 4003


def _stalled_client(port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake, then reads nothing (a tiny receive
    window, set before connecting, so the server's buffers fill soon)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    )
    sock.sendall(f"{request}\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Everything the server sent until it closed: (opcode, payload) per frame."""
    sock.settimeout(WAIT)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    frames, at = [], 0
    while at < len(data):
        opcode, length, at = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length >= 126:
            width = 2 if length == 126 else 8
            length, at = int.from_bytes(data[at : at + width], "big"), at + width
        frames.append((opcode, data[at : at + length]))
        at += length
    return frames


async def test_a_slow_client_is_dropped_and_slows_nobody(stack: Stack) -> None:
    """A client that stops reading fills its socket, then its queue: it is closed with 4008
    while a client beside it receives every event."""
    reader = await stack.agent()
    start = await stack.mark()
    body = "x" * 131_072
    path = f"/ws/feed?token={reader['jwt_token']}&since={start}"
    stalled = await asyncio.to_thread(_stalled_client, stack.processes[0].port, path)
    async with stack.feed(0, reader["jwt_token"], since=start) as fast:
        # 200 events of 128 KB, 10 at a time: far more than the stalled socket and queue hold
        for burst in range(20):
            async with unit_of_work(stack.sessions) as session:
                for n in range(burst * 10, burst * 10 + 10):
                    payload = {"title": f"big-{n}", "b": body}
                    last = events.emit(session, EventType.LISTING_CREATED, payload)
            await asyncio.sleep(0.1)
        received = await _until(fast, _is(str(last.id)), within=60)
    assert len([m for m in received if m["data"]["title"].startswith("big-")]) == 200
    frames = await asyncio.to_thread(_frames, stalled)
    stalled.close()
    opcode, closing = frames[-1]
    assert opcode == 8 and int.from_bytes(closing[:2], "big") == 4008  # a close frame
    assert len(frames) < 200
