from datetime import timedelta
from pathlib import Path

from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_settings
from worker import schedules


async def test_schedules_are_created_once_and_updated_in_place(
    sqlite_url: str, tmp_path: Path, temporal_dev: WorkflowEnvironment
) -> None:
    client = temporal_dev.client
    settings = make_settings(sqlite_url, tmp_path)
    assert await schedules.ensure(client, settings) == ["housekeeping", "ledger-audit", "cdn-decay"]

    settings.ledger_audit_interval_minutes = 15
    assert await schedules.ensure(client, settings) == ["housekeeping", "ledger-audit", "cdn-decay"]

    audit = await client.get_schedule_handle("ledger-audit").describe()
    assert audit.schedule.spec.intervals[0].every == timedelta(minutes=15)
    action = audit.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "LedgerAuditWorkflow"
    assert action.task_queue == settings.temporal_task_queue
    listed = [s.id async for s in await client.list_schedules()]
    assert sorted(set(listed)) == sorted(listed)  # one of each, never duplicated
