"""Local webhook consumers for the benchmarks: bare ASGI apps on uvicorn that verify each
signature (Standard Webhooks) and note when each event arrived."""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from bench.stack import free_port
from core import signatures


@dataclass
class Consumer:
    """A bare ASGI webhook consumer: verifies the signature, notes when each event arrived."""

    secret: str = ""
    received: dict[str, float] = field(default_factory=dict)  # webhook-id -> epoch seconds
    invalid: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        message_id = headers.get("webhook-id", "")
        valid = signatures.verify(
            self.secret,
            message_id,
            headers.get("webhook-timestamp", ""),
            body,
            headers.get("webhook-signature", ""),
        )
        if valid:
            self.received.setdefault(message_id, time.time())
        else:
            self.invalid += 1
        await send({"type": "http.response.start", "status": 200 if valid else 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def serve(consumer: Consumer) -> tuple[str, uvicorn.Server]:
    port = free_port()
    config = uvicorn.Config(
        consumer, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    asyncio.create_task(server.serve())  # noqa: RUF006 (stopped by should_exit)
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{port}/hook", server
