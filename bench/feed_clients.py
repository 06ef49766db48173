"""The live feed's clients in bench.feed: WebSocket clients on the `websockets` sans-I/O protocol
(no compression, nothing parsed while receiving), noting when each message arrived."""

import asyncio
import time
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response as WsResponse
from websockets.uri import parse_uri

CONNECT_AT_ONCE = 50  # clients opening their connections together


@dataclass
class Receipts:
    expected: int = 0
    got: list[tuple[float, bytes]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, expected: int) -> None:
        self.expected, self.got = expected, []
        self.done.clear()

    def add(self, raw: bytes) -> None:
        self.got.append((time.time(), raw))  # parsed after the run, not while receiving
        if len(self.got) >= self.expected:
            self.done.set()


class Client(asyncio.Protocol):
    """A WebSocket client on the `websockets` sans-I/O protocol: no task per message, so 1,000
    of them in one process cost little beside the servers they measure."""

    def __init__(self, url: str, sink: Receipts) -> None:
        self._protocol = ClientProtocol(parse_uri(url), max_size=None)
        self._sink = sink
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._protocol.send_request(self._protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._protocol.receive_data(data)
        for event in self._protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._sink.add(bytes(event.data))
            elif isinstance(event, WsResponse) and not self.opened.done():
                if event.status_code == 101:
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(RuntimeError(f"handshake: {event.status_code}"))
        self._flush()  # pongs, close frames

    def _flush(self) -> None:
        if self._transport is not None and (out := self._protocol.data_to_send()):
            self._transport.write(b"".join(out))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(urls: list[str], sink: Receipts) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []

    async def one(url: str) -> Client:
        port = int(url.split(":")[2].split("/")[0])
        _, client = await loop.create_connection(lambda: Client(url, sink), "127.0.0.1", port)
        await asyncio.wait_for(client.opened, 60)
        return client

    for start in range(0, len(urls), CONNECT_AT_ONCE):
        clients += await asyncio.gather(*(one(u) for u in urls[start : start + CONNECT_AT_ONCE]))
    return clients
