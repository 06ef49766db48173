"""Prometheus metrics of the API processes (ADR 0020), and the hooks other modules count with.

With several API processes behind one port, `PROMETHEUS_MULTIPROC_DIR` must name a directory
that is empty when they start: prometheus-client then keeps every process's values in files
there and `/metrics`, whichever process answers it, adds them up. Without it each process
counts in its memory, which is right for one process (or one scrape target per process).
"""

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from temporalio import activity

HTTP_REQUESTS = Counter(
    "agentchains_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "agentchains_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMIT_REFUSALS = Counter(
    "agentchains_rate_limit_refusals", "Requests refused by a rate limit, by limit", ["limit"]
)
RATE_LIMIT_STORE_ERRORS = Counter(
    "agentchains_rate_limit_store_errors",
    "Calls to the shared rate-limit store that failed (this process then counted locally)",
)
OUTBOX_LAG = Gauge(
    "agentchains_outbox_lag_events",
    "Newest outbox sequence minus the sequence this process's outbox follower has applied",
    multiprocess_mode="liveall",
)
OUTBOX_POLLED = Gauge(
    "agentchains_outbox_last_poll_timestamp_seconds",
    "When this process's outbox follower last read the outbox successfully",
    multiprocess_mode="liveall",
)
WEBHOOK_DELIVERIES = Counter(
    "agentchains_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, failed, paused, ...)",
    ["outcome"],
)


def webhook_delivery(outcome: str) -> None:
    """Count one webhook delivery attempt. Inside a Temporal activity it lands on the worker's
    metrics endpoint (the SDK's meter, WORKER_METRICS_PORT); anywhere else on `/metrics`."""
    if activity.in_activity():
        counter = activity.metric_meter().create_counter(
            "agentchains_webhook_deliveries", "Webhook delivery attempts by outcome"
        )
        counter.with_additional_attributes({"outcome": outcome}).add(1)
    else:
        WEBHOOK_DELIVERIES.labels(outcome).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition() -> bytes:
    """This process's metrics, or every live and past process's when running multi-process."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def process_exited(pid: int) -> None:
    """Drop a finished process's live gauges (its counters keep counting in the sums)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)
