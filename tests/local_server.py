"""An ASGI app served by uvicorn on a free loopback port: the base of the local fakes of
outside services (the x402 facilitator, Razorpay X) that tests talk to over real HTTP."""

import asyncio
import socket
from typing import Any, Self

import uvicorn


class LocalServer:
    def __init__(self, app: Any, **options: Any) -> None:
        """`options` go to uvicorn.Config (e.g. `ssl_certfile`, `ssl_keyfile` for TLS)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **options
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._server.serve())
        # uvicorn offers no startup event to wait on
        while not self._server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.should_exit = True
        if self._task:
            await self._task
