"""Webhook delivery (ADR 0023): one dispatcher follows the outbox; one workflow per endpoint
delivers its queue, so a slow or failing consumer only ever delays itself.

The dispatcher runs its step for a while, then continues as new (it never ends on its own).
An endpoint's workflow drains the queue, sleeps until the next retry is due, and ends when
the queue is empty (or the endpoint paused or deleted); the next queued delivery starts it
again (signal-with-start of `wake`). A wake-up during a drain sends it round once more.
"""

from contextlib import suppress
from uuid import UUID

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import webhooks as contract
    from workflows.steps import RUNNING, step

FOLLOW_SECONDS = 600
ROUNDS = 200  # drains per run before it continues as new (bounded history)


@workflow.defn(name=contract.WEBHOOK_DISPATCH.name)
class WebhookDispatchWorkflow:
    @workflow.run
    async def run(self, seconds: int = FOLLOW_SECONDS) -> None:
        await step(contract.FOLLOW_OUTBOX, RUNNING)(seconds)
        workflow.continue_as_new(seconds)


@workflow.defn(name=contract.WEBHOOK_ENDPOINT.name)
class WebhookEndpointWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.run
    async def run(self, endpoint_id: UUID) -> None:
        for _ in range(ROUNDS):
            self._woken = False
            drained = await step(contract.DRAIN, RUNNING)(endpoint_id)
            if self._woken:
                continue
            if drained.closed:
                return
            pause = (drained.next_due - workflow.now()).total_seconds() if drained.next_due else 0
            if pause > 0:
                with suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._woken, timeout=pause)
        workflow.continue_as_new(endpoint_id)

    @workflow.signal(name=contract.WAKE.name)
    def wake(self) -> None:
        self._woken = True
