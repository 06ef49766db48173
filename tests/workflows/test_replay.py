"""Recorded histories of every workflow type still replay against the current code, so a
non-deterministic change fails here (re-record with `python -m tests.workflows.record`)."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from core.settings import Settings
from worker.registry import task_queues

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
RECORDED = {path.stem: json.loads(path.read_text()) for path in HISTORIES}
WORKFLOWS = [w for queue in task_queues(Settings()).values() for w in queue.workflows]


def test_every_workflow_type_has_a_recorded_history() -> None:
    recorded = {path.stem.split("-")[0] for path in HISTORIES}
    assert recorded == {w.__temporal_workflow_definition.name for w in WORKFLOWS}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, RECORDED[name])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
