"""The worker's metrics port: the Temporal SDK's own metrics, and counters that activities add
through the SDK's meter (the webhook-delivery hook), scraped over HTTP."""

import uuid
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core import metrics
from core.temporal import connect, metrics_runtime
from tests.api_processes import free_port
from tests.conftest import temporal_address


@activity.defn
async def deliver(outcome: str) -> None:
    metrics.webhook_delivery(outcome)


@workflow.defn(sandboxed=False)
class DeliverOnce:
    @workflow.run
    async def run(self, outcome: str) -> None:
        await workflow.execute_activity(
            deliver, outcome, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_activities_count_webhook_outcomes_on_the_workers_metrics_port(
    temporal_dev: WorkflowEnvironment,
) -> None:
    port = free_port()
    namespace = temporal_dev.client.namespace
    address = temporal_address(temporal_dev.client)
    client = await connect(address, namespace, runtime=metrics_runtime(port))
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[DeliverOnce], activities=[deliver]):
        for outcome in ("delivered", "delivered", "failed"):
            await client.execute_workflow(
                DeliverOnce.run, outcome, id=f"deliver-{uuid.uuid4()}", task_queue=queue
            )
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    counted = {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("agentchains_webhook_deliveries")
    }
    assert counted == {"delivered": 2, "failed": 1}
    assert "temporal_workflow_completed" in text  # the SDK's own metrics, same endpoint
