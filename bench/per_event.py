"""The design bench.webhooks compares against (ADR 0023): one workflow per delivery, one activity
that signs and POSTs, on a queue of its own. Run as the second worker process:

    python -m bench.per_event TEMPORAL_ADDRESS
"""

import asyncio
import signal
import sys
import time
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from core import signatures
    from core.process import exit_hard
    from core.temporal import connect

QUEUE = "bench-webhook-per-event"

_shared: list[httpx.AsyncClient] = []  # one client (one pool) for every activity of the process


@activity.defn(name="bench.post_signed")
async def post_signed(url: str, secret: str, event_id: str, body: str) -> int:
    """Sign and POST one delivery (the secret travels in the input here: a bench shortcut the
    real design does not take)."""
    if not _shared:
        _shared.append(httpx.AsyncClient(limits=httpx.Limits(max_connections=100)))
    headers = signatures.headers([secret], event_id, int(time.time()), body.encode())
    response = await _shared[0].post(url, content=body.encode(), headers=headers)
    return response.status_code


@workflow.defn(name="BenchPerEventDelivery")
class PerEventDelivery:
    @workflow.run
    async def run(self, url: str, secret: str, event_id: str, body: str) -> int:
        return await workflow.execute_activity(
            post_signed,
            args=[url, secret, event_id, body],
            start_to_close_timeout=timedelta(seconds=15),
        )


async def serve_worker(address: str) -> None:
    client = await connect(address, "default")
    worker = Worker(
        client,
        task_queue=QUEUE,
        workflows=[PerEventDelivery],
        activities=[post_signed],
        max_concurrent_activities=200,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


def main() -> int:
    asyncio.run(serve_worker(sys.argv[1]))
    return 0


if __name__ == "__main__":
    exit_hard(main)
