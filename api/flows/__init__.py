"""Starting and talking to durable flows: the one way the API does it.

- `open_flow` commits the flow's row, then starts its workflow once by its business id (a
  duplicate start finds the running one; a closed one is never started again); if the start
  fails, the row is closed, so nothing waits for a workflow that does not exist.
- `update` sends an update and answers the workflow's state; a refusal comes back as the
  domain error it stands for (by its code), and a flow that has already closed answers from
  its row (409 `invalid_state`, or its final state where repeating is harmless).
- `outcome` waits for a flow's end.
- An eager start says whether the flow's first task runs in this process (`Opened.here`).

Each flow's service (`api/flows/purchases.py`, ...) says how to open, start and abandon its row;
routes, the MCP tools and auto-buy call those services.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.state import AppState
from core.db import unit_of_work
from core.errors import Unavailable, from_failure
from workflows.contracts import Update, Workflow, task_queue

A = TypeVar("A")
R = TypeVar("R")


class Status(Protocol):
    @property
    def final(self) -> bool: ...


class FlowState(Protocol):
    @property
    def status(self) -> Status: ...


S = TypeVar("S", bound=FlowState)


@dataclass(frozen=True)
class Launch(Generic[A]):
    """How a flow's workflow starts: its type and terms, its business id, what operators see."""

    workflow: Workflow[A, Any]
    terms: A
    id: str
    summary: str
    search_attributes: TypedSearchAttributes = TypedSearchAttributes.empty
    eager: bool = False  # its first task runs in this process when it polls the workflow's queue


@dataclass(frozen=True)
class Opened(Generic[S]):
    state: S
    replayed: bool  # this business id was opened before: the request is a replay
    here: bool = False  # started now, its first task given to this process's worker (eager)


async def open_flow(
    app: AppState,
    open_row: Callable[[AsyncSession], Awaitable[tuple[S, bool]]],
    launch: Callable[[S], Launch[Any]],
    abandon: Callable[[AsyncSession, S], Awaitable[object]],
) -> Opened[S]:
    """Commit the row, then start its workflow. A replay starts it if the first request could
    not (its workflow id finds the running one otherwise); a row already closed starts nothing."""
    async with unit_of_work(app.sessions) as session:
        state, replayed = await open_row(session)
    if state.status.final:
        return Opened(state, replayed)
    try:
        here = await _start(app, launch(state))
    except Unavailable:
        if not replayed:  # a replay's workflow may be running: only the first request abandons
            async with unit_of_work(app.sessions) as session:
                await abandon(session, state)
        raise
    return Opened(state, replayed, here)


async def _start(app: AppState, launch: Launch[Any]) -> bool:
    """Whether the server gave the first workflow task back with the start (eager)."""
    try:
        handle = await app.temporal.start_workflow(
            launch.workflow.name,
            launch.terms,
            id=launch.id,
            task_queue=task_queue(app.settings.temporal_task_queue, launch.workflow.family),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=launch.search_attributes,
            static_summary=launch.summary,
            request_eager_start=launch.eager,
        )
    except WorkflowAlreadyStartedError:
        return False  # it ran before and closed: a business id runs once
    except RPCError as exc:
        raise Unavailable("The workflow service could not start this flow") from exc
    # The SDK's own mark on the handle (no public accessor); without it, nothing runs here.
    return bool(getattr(handle, "__temporal_eagerly_started", False))


async def update(
    app: AppState,
    workflow_id: str,
    message: Update[A, R],
    arg: A,
    *,
    closed: Callable[[], Awaitable[R]],
) -> R:
    """Send the update and answer its result; `closed` answers for a flow that has ended."""
    handle = app.temporal.get_workflow_handle(workflow_id)
    try:
        result: R = await handle.execute_update(
            message.name, args=[] if arg is None else [arg], result_type=message.result
        )
        return result
    except WorkflowUpdateFailedError as exc:
        raise from_failure(exc.cause) from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return await closed()
        raise Unavailable("The workflow service did not take this step") from exc


async def outcome(app: AppState, workflow_id: str, flow: Workflow[Any, R]) -> R:
    """Wait for the flow's result."""
    handle = app.temporal.get_workflow_handle(workflow_id, result_type=flow.result)
    try:
        result: R = await handle.result()
        return result
    except WorkflowFailureError as exc:
        raise from_failure(exc.cause) from exc
    except RPCError as exc:
        raise Unavailable("The workflow service did not answer") from exc
