"""How workflows run their steps: every activity through `step()`, with a policy from one table.

    state = await step(purchase.SETTLE)(tx)                     # retried until the money moved
    state = await step(purchase.PAY, ANSWERED, local=True)(tx)  # a caller waits on this one

The contract's activity gives the name, the argument and result types and the summary the
Temporal UI shows for the step.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import Activity, Workflow

P = ParamSpec("P")
A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class Policy:
    timeout: timedelta  # start-to-close of one attempt: a lost attempt is retried this soon
    retry: RetryPolicy
    heartbeat: timedelta | None = None  # a long step that stops heartbeating is retried sooner


# Money steps: retried until they finish (each is idempotent by its ledger key).
DURABLE = Policy(timedelta(seconds=10), RetryPolicy(maximum_interval=timedelta(seconds=30)))
# A caller waits on the answer: a few attempts, then the refusal or failure goes back to it.
ANSWERED = Policy(timedelta(seconds=10), RetryPolicy(maximum_attempts=3))
# One call to the outside world per attempt; the workflow counts and spaces the attempts.
ONCE = Policy(timedelta(seconds=30), RetryPolicy(maximum_attempts=1))
# One read over many rows (the creators a monthly run pays): a lost attempt is retried in a minute.
SCAN = Policy(timedelta(minutes=1), RetryPolicy(maximum_interval=timedelta(seconds=30)))
# Work over many rows (audits, demand aggregation).
LONG = Policy(timedelta(minutes=10), RetryPolicy(maximum_interval=timedelta(minutes=1)))
# A step that runs for a while and heartbeats (following the outbox, draining a webhook queue):
# when its worker dies it is retried after the heartbeat timeout, not the whole run.
RUNNING = Policy(
    timedelta(minutes=15),
    RetryPolicy(maximum_interval=timedelta(seconds=5)),
    heartbeat=timedelta(seconds=5),
)


def step(
    activity: Activity[P, R],
    policy: Policy = DURABLE,
    *,
    local: bool = False,
    summary: str | None = None,
) -> Callable[P, Awaitable[R]]:
    """The activity as a typed call; `local` runs it in the workflow's own task (no round trip
    through the server), for steps a caller waits on."""

    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        assert not kwargs, "activities take positional arguments"
        options: dict[str, Any] = {
            "args": list(args),
            "result_type": activity.result,
            "start_to_close_timeout": policy.timeout,
            "retry_policy": policy.retry,
            "summary": summary or activity.summary,
        }
        if policy.heartbeat is not None:
            options["heartbeat_timeout"] = policy.heartbeat
        if local:
            result: R = await workflow.execute_local_activity(activity.name, **options)
        else:
            result = await workflow.execute_activity(activity.name, **options)
        return result

    return call


async def child(flow: Workflow[A, R], arg: A, *, id: str, summary: str | None = None) -> R:
    """Run a child workflow to its end."""
    result: R = await workflow.execute_child_workflow(
        flow.name, arg, id=id, result_type=flow.result, static_summary=summary
    )
    return result


# A failed activity raises ActivityError with the failure as its cause; a local one may raise
# the failure itself.
StepFailed = (ActivityError, ApplicationError)


def refusal_of(failure: BaseException) -> ApplicationError | None:
    """The business refusal behind a failed step (its code is the type), or None when the step
    failed for another reason (timed out, crashed)."""
    cause = failure.cause if isinstance(failure, ActivityError) else failure
    if isinstance(cause, ApplicationError) and cause.non_retryable and cause.type:
        return cause
    return None
