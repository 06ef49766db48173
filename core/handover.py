"""A step's result handed to the request that waits for it in the same process (ADR 0044).

A request registers what it waits for before it starts the work; the step that does the work
in this process gives its result, or `None` when it ends without one (the request then asks
the workflow). A step running in another process finds nobody waiting here: giving is a no-op.
"""

import asyncio
import contextlib
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Handover(Generic[K, V]):
    def __init__(self) -> None:
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}

    @contextlib.contextmanager
    def awaiting(self, key: K) -> Iterator[asyncio.Future[V | None]]:
        """What `key`'s step gives while the block runs."""
        given: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(given)
        try:
            yield given
        finally:
            waiting = self._waiting[key]
            waiting.remove(given)
            if not waiting:
                del self._waiting[key]

    def give(self, key: K, result: V | None) -> None:
        for given in self._waiting.get(key, ()):
            if not given.done():
                given.set_result(result)

    def __len__(self) -> int:
        return len(self._waiting)
