from datetime import timedelta
from pathlib import Path

from temporalio.client import ScheduleActionStartWorkflow, ScheduleRange
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_settings
from worker import schedules

NAMES = ["housekeeping", "ledger-audit", "cdn-decay", "demand-aggregation", "monthly-payout"]


async def test_schedules_are_created_once_and_updated_in_place(
    sqlite_url: str, tmp_path: Path, temporal_dev: WorkflowEnvironment
) -> None:
    client = temporal_dev.client
    settings = make_settings(sqlite_url, tmp_path)
    assert await schedules.ensure(client, settings) == NAMES

    settings.ledger_audit_interval_minutes = 15
    assert await schedules.ensure(client, settings) == NAMES

    audit = await client.get_schedule_handle("ledger-audit").describe()
    assert audit.schedule.spec.intervals[0].every == timedelta(minutes=15)
    action = audit.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "LedgerAuditWorkflow"
    assert action.task_queue == settings.temporal_task_queue
    payout = (await client.get_schedule_handle("monthly-payout").describe()).schedule.spec
    assert payout.time_zone_name == "UTC"
    assert list(payout.calendars[0].day_of_month) == [ScheduleRange(settings.creator_payout_day)]
    listed = [s.id async for s in await client.list_schedules()]
    assert sorted(set(listed)) == sorted(listed)  # one of each, never duplicated
