"""Every contract is kept: each activity a contract names is implemented once and registered,
each workflow type is registered, and implementations are registered under contract names."""

import importlib
import pkgutil
from typing import Any

import workflows.contracts
from core.settings import Settings
from worker.registry import Dependencies, task_queues
from workflows.contracts import Activity, Workflow

CONTRACTS = [
    importlib.import_module(f"workflows.contracts.{m.name}")
    for m in pkgutil.iter_modules(workflows.contracts.__path__)
]


def _declared(kind: type[Activity[Any, Any]] | type[Workflow[Any, Any]]) -> dict[str, Any]:
    return {
        value.name: value
        for module in CONTRACTS
        for value in vars(module).values()
        if isinstance(value, kind)
    }


def _registered_activities() -> list[str]:
    nothing: Any = None  # the activities are listed, never called
    deps = Dependencies(Settings(), nothing, nothing)
    names = []
    for queue in task_queues(deps.settings).values():
        for method in queue.activities(deps):
            names.append(method.__temporal_activity_definition.name)  # type: ignore[attr-defined]
    return names


def test_every_contract_activity_is_implemented_once() -> None:
    registered = _registered_activities()
    assert sorted(registered) == sorted(_declared(Activity)), "implemented != declared"
    assert len(registered) == len(set(registered))


def test_every_contract_workflow_is_registered() -> None:
    registered = {
        w.__temporal_workflow_definition.name  # type: ignore[attr-defined]
        for queue in task_queues(Settings()).values()
        for w in queue.workflows
    }
    assert registered == set(_declared(Workflow))
