"""`GET /metrics` over HTTP: requests by route template and status with latencies, rate-limit
refusals, ledger movements, outbox lag, webhook outcomes; and sums across two API processes."""

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from tests.api.helpers import register
from tests.conftest import StartApiProcesses, make_settings, serve

AGENTS = "/api/v1/agents"


Scraped = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Scraped:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scraped: Scraped, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


async def scrape(api: httpx.AsyncClient) -> Scraped:
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_requests_are_counted_by_route_template_and_status(
    database_url: str, tmp_path: Path
) -> None:
    async with serve(make_settings(database_url, tmp_path)) as api:
        before = await scrape(api)
        agent = await register(api)
        for _ in range(2):
            assert (await api.get(f"{AGENTS}/{agent['id']}")).status_code == 200
        assert (await api.get(f"{AGENTS}/{uuid.uuid4()}")).status_code == 404
        assert (await api.get("/api/v1/no-such-thing/42")).status_code == 404
        after = await scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    one_agent = {"method": "GET", "route": f"{AGENTS}/{{agent_id}}"}
    assert delta("agentchains_http_requests_total", **one_agent, status="200") == 2
    assert delta("agentchains_http_requests_total", **one_agent, status="404") == 1
    assert delta("agentchains_http_request_duration_seconds_count", **one_agent) == 3
    assert delta("agentchains_http_request_duration_seconds_sum", **one_agent) > 0
    unknown = {"method": "GET", "route": "unmatched", "status": "404"}
    assert delta("agentchains_http_requests_total", **unknown) == 1
    registered = {"method": "POST", "route": f"{AGENTS}/register", "status": "201"}
    assert delta("agentchains_http_requests_total", **registered) == 1
    # The ledger is read when scraped: the signup bonus is one more movement.
    assert delta("agentchains_ledger_movements_total", tx_type="signup_bonus") == 1
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any("no-such-thing" in route for route in routes)  # raw paths make no series


async def test_refusals_webhook_outcomes_and_the_outbox_are_reported(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, rest_rate_limit_anonymous=1)
    async with serve(settings) as api:
        before = await scrape(api)
        assert [(await api.get(AGENTS)).status_code for _ in "ab"] == [200, 429]
        metrics.webhook_delivery("delivered")
        metrics.webhook_delivery("failed")
        await asyncio.sleep(1.2)  # the outbox follower polls every second
        after = await scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("agentchains_rate_limit_refusals_total", limit="anonymous") == 1
    refused = {"method": "GET", "route": AGENTS, "status": "429"}
    assert delta("agentchains_http_requests_total", **refused) == 1
    for outcome in ("delivered", "failed"):
        assert delta("agentchains_webhook_deliveries_total", outcome=outcome) == 1
    assert value(after, "agentchains_outbox_lag_events") == 0
    assert delta("agentchains_outbox_last_poll_timestamp_seconds") > 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_every_process_answers_with_the_sum_over_all_processes(
    api_processes: StartApiProcesses,
) -> None:
    fresh = httpx.Limits(max_keepalive_connections=0)  # new connections: both processes accept
    stack = api_processes(2)
    async with stack, httpx.AsyncClient(base_url=stack.url, limits=fresh, timeout=30) as api:
        sent = 0
        while sent < 40 or (sent < 400 and not all_answered(stack.requests_per_process(AGENTS))):
            answers = await asyncio.gather(*(api.get(AGENTS) for _ in range(10)))
            assert {r.status_code for r in answers} == {200}
            sent += len(answers)
        served = stack.requests_per_process(AGENTS)
        scrapes: list[Scraped] = []
        while len(scrapes) < 60 and not all_answered(stack.requests_per_process("/metrics")):
            scrapes.append(await scrape(api))
    assert len(served) == 2 and all(served.values()), served
    assert all_answered(stack.requests_per_process("/metrics"))
    listed = {"method": "GET", "route": AGENTS, "status": "200"}
    for scraped in scrapes:
        assert value(scraped, "agentchains_http_requests_total", **listed) == sent
        lags = [labels for name, labels in scraped if name == "agentchains_outbox_lag_events"]
        assert len(lags) == 2  # one series per live process


def all_answered(per_process: dict[int, int]) -> bool:
    return len(per_process) == 2 and all(per_process.values())
