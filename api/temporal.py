"""Talking to workflows from a request: starts and updates, with Temporal's errors as problems."""

from typing import Any, TypeVar

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.errors import AppError, InvalidState, NotFound, PaymentRequired, Unavailable

T = TypeVar("T")


class WorkflowGone(NotFound):
    """No running workflow with this id (never started, or already closed)."""

    code = "workflow_not_running"


def refusal(cause: BaseException | None) -> AppError:
    """The problem a workflow's business refusal stands for (its ApplicationError type is the
    problem code)."""
    if not isinstance(cause, ApplicationError):
        return InvalidState(str(cause))
    paying = (cause.type or "").startswith(("insufficient_", "payment_"))
    kind = PaymentRequired if paying else InvalidState
    return kind(cause.message, code=cause.type or kind.code)


async def start(
    client: Client,
    workflow: str,
    arg: Any,
    *,
    id: str,
    task_queue: str,
    search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty,
    summary: str | None = None,
) -> None:
    """Start, or find the one already running with this business id. A business id runs once:
    when its workflow already closed, nothing starts again."""
    try:
        await client.start_workflow(
            workflow,
            arg,
            id=id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes,
            static_summary=summary,
        )
    except WorkflowAlreadyStartedError:
        return
    except RPCError as exc:
        raise Unavailable(f"Could not start the workflow: {exc.message}") from exc


async def update(
    client: Client, workflow_id: str, update: str, arg: Any, result_type: type[T]
) -> T:
    """Send an update; a validator's refusal is 409, a closed or unknown workflow WorkflowGone."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(update, arg, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        raise refusal(exc.cause) from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise WorkflowGone(exc.message) from exc
        raise Unavailable(f"Workflow service error: {exc.message}") from exc
