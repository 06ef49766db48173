"""A webhook consumer over real HTTP on a free loopback port, as a Standard Webhooks consumer
should be written: it verifies each delivery with the `standardwebhooks` library and accepts
each `webhook-id` once (a redelivery is answered as the first was, and counted, not
processed again).

Knobs: `fail_first` (answer 500 to the first N attempts of each webhook-id), `down` (answer
`down_status` to everything), `redirect_to` (answer 307 to there), `delay_seconds`.
OpenClaw mode (`bearer`): checks the bearer token instead of a signature, answers
`answer_status` (200 by default).
"""

import asyncio
import ipaddress
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook, WebhookVerificationError

from domain.webhooks import guard
from tests.local_server import LocalServer


@dataclass(frozen=True)
class Received:
    webhook_id: str
    body: dict[str, Any]
    at: float  # epoch seconds
    host: str
    signatures: int


@dataclass
class Consumer:
    secret: str | None = None
    also: list[str] = field(default_factory=list)  # more secrets each delivery must verify with
    bearer: str | None = None
    fail_first: int = 0
    down: bool = False
    down_status: int = 500
    answer_status: int = 200
    redirect_to: str | None = None
    delay_seconds: float = 0.0
    attempts: Counter[str] = field(default_factory=Counter)  # per webhook-id
    accepted: dict[str, Received] = field(default_factory=dict)
    redelivered: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # why a request was refused
    in_flight: int = 0  # requests received and not answered yet

    def __post_init__(self) -> None:
        app = FastAPI()
        app.post("/hook")(self._receive)
        self._server = LocalServer(app)

    @property
    def url(self) -> str:
        return f"{self._server.url}/hook"

    @property
    def port(self) -> int:
        return self._server.port

    async def __aenter__(self) -> Self:
        await self._server.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(*exc)

    def events(self) -> list[dict[str, Any]]:
        return [received.body for received in self.accepted.values()]

    async def until(self, count: int, within: float = 30.0) -> None:
        """Wait until `count` distinct webhook-ids were accepted."""
        deadline = time.monotonic() + within
        while len(self.accepted) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.accepted)} of {count} accepted; {self.refused}")
            await asyncio.sleep(0.05)

    async def _receive(self, request: Request) -> Response:
        self.in_flight += 1
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        body = await request.body()
        message_id = request.headers.get("webhook-id") or request.headers.get(
            "x-agentchains-event-id", ""
        )
        self.attempts[message_id] += 1
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.redirect_to:
            return Response(status_code=307, headers={"Location": self.redirect_to})
        if self.down:
            return Response(status_code=self.down_status)
        if self.attempts[message_id] <= self.fail_first:
            return Response(status_code=500)
        if (why := self._check(request, body)) is not None:
            self.refused.append(why)
            return Response(why, status_code=401)
        if message_id in self.accepted:
            self.redelivered[message_id] += 1
            return Response(status_code=self.answer_status)
        signature = request.headers.get("webhook-signature", "")
        self.accepted[message_id] = Received(
            message_id,
            json.loads(body),
            time.time(),
            request.headers.get("host", ""),
            len(signature.split()),
        )
        return Response(status_code=self.answer_status)

    def _check(self, request: Request, body: bytes) -> str | None:
        if self.bearer is not None:
            given = request.headers.get("authorization", "")
            return None if given == f"Bearer {self.bearer}" else "wrong bearer token"
        if self.secret is None:
            return "no secret to verify with"
        for secret in (self.secret, *self.also):
            try:
                Webhook(secret).verify(body, dict(request.headers))
            except WebhookVerificationError as exc:
                return f"signature: {exc}"
        return None


def scripted_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What each name resolves to, for the SSRF guard, changeable while a test runs (real DNS
    is not ours to change). IP literals resolve to themselves; other names do not resolve."""
    answers: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host not in answers:
            raise OSError(f"{host} does not resolve")
        return answers[host]

    monkeypatch.setattr(guard, "resolve", resolve)
    return answers
