"""What the API, workflows and activities agree on: one contract module per flow.

A flow's contract names its workflow, updates, query and activities with their argument and
result types, and its status enum with the final set. Contracts import nothing of the project
but `core`, so every layer may use them; workflows import nothing else of the project.
"""

from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from core.errors import InvalidState, to_failure

P = ParamSpec("P")
A = TypeVar("A")
R = TypeVar("R")


class Activity(Generic[P, R]):
    """An activity by name and signature: workflows call it, one activities class implements it
    (`activities.implements`), and mypy holds both to the signature."""

    def __init__(self, name: str, result: Any, summary: str) -> None:
        self.name, self.result, self.summary = name, result, summary

    def __repr__(self) -> str:
        return f"Activity({self.name!r})"


@dataclass(frozen=True)
class Workflow(Generic[A, R]):
    """A workflow type: started with `A`, closes with `R`, on the task queue of its `family`."""

    name: str
    result: Any
    family: str = ""  # "" runs on the main task queue


def task_queue(main_queue: str, family: str) -> str:
    """The task queue a family of workflows runs on, named after the main one."""
    return f"{main_queue}-{family}" if family else main_queue


@dataclass(frozen=True)
class Update(Generic[A, R]):
    """An update sent to a running workflow with `A` (None: no argument), answered with `R`."""

    name: str
    result: Any


@dataclass(frozen=True)
class Signal:
    """A signal sent to a workflow (with no argument)."""

    name: str


@dataclass(frozen=True)
class Query(Generic[R]):
    name: str
    result: Any


def invalid_state(message: str) -> ApplicationError:
    """A workflow's refusal of a call its state does not allow (409 `invalid_state`)."""
    return to_failure(InvalidState(message))
