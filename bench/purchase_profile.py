"""Where an express buy's time goes, read from the workflows' own histories (used by
`bench.purchase`)."""

import contextlib
import statistics
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError


def _ms(event: Any, origin: Any) -> float:
    return (event.event_time.ToMilliseconds() - origin.event_time.ToMilliseconds()) * 1.0


def _timeline(history: WorkflowHistory) -> dict[str, float]:
    """Workflow-task round trips, and each activity's queue wait and run time, in ms."""
    events, by_id = history.events, {e.event_id: e for e in history.events}
    phases: dict[str, float] = {"workflow_ms": _ms(events[-1], events[0])}
    tasks = 0
    for event in events:
        if event.HasField("workflow_task_completed_event_attributes"):
            tasks += 1
            scheduled = by_id[event.workflow_task_completed_event_attributes.scheduled_event_id]
            phases["workflow_tasks_ms"] = phases.get("workflow_tasks_ms", 0) + _ms(event, scheduled)
        if event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            scheduled, began = by_id[done.scheduled_event_id], by_id[done.started_event_id]
            name = scheduled.activity_task_scheduled_event_attributes.activity_type.name
            phases[f"{name}.queue_ms"] = _ms(began, scheduled)
            phases[f"{name}.run_ms"] = _ms(event, began)
        if event.HasField("marker_recorded_event_attributes"):  # a local activity's result
            phases["local_activities"] = phases.get("local_activities", 0) + 1
        if event.HasField("child_workflow_execution_completed_event_attributes"):
            child = event.child_workflow_execution_completed_event_attributes
            phases["child_workflow_ms"] = _ms(event, by_id[child.initiated_event_id])
    phases["workflow_tasks"] = tasks
    return phases


async def profile(client: Client, level: dict[str, Any], count: int) -> dict[str, Any]:
    """Medians over `count` purchases: the client's wait before the workflow started, the
    workflow's own phases (its child's too, `verify:` for `purchase:`, when it has one), and
    the wait after it closed."""
    rows = []
    for workflow_id, sent, latency in level["samples"][:count]:
        parent = await client.get_workflow_handle(workflow_id).fetch_history()
        first, last = parent.events[0], parent.events[-1]
        row = _timeline(parent)
        child_id = workflow_id.replace("purchase:", "verify:", 1)
        with contextlib.suppress(RPCError):  # express verifies inline: no child
            child = await client.get_workflow_handle(child_id).fetch_history()
            row.update({f"child.{k}": v for k, v in _timeline(child).items()})
        row["before_workflow_ms"] = first.event_time.ToMilliseconds() - sent * 1000
        row["after_workflow_ms"] = (sent + latency) * 1000 - last.event_time.ToMilliseconds()
        rows.append(row)
    keys = sorted({k for row in rows for k in row})
    return {k: round(statistics.median(r[k] for r in rows if k in r), 1) for k in keys}
