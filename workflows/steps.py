"""How workflows run their activities: retried until the money has finished moving, with the
activity's first docstring line as the summary the Temporal UI shows for the step."""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

DURABLE = RetryPolicy(maximum_interval=timedelta(seconds=30))


def summary_of(method: Any) -> str | None:
    return method.__doc__.splitlines()[0] if method.__doc__ else None


async def durable_step(method: Any, *args: Any, start_to_close: timedelta) -> Any:
    return await workflow.execute_activity_method(
        method,
        args=list(args),
        start_to_close_timeout=start_to_close,
        retry_policy=DURABLE,
        summary=summary_of(method),
    )
